"""The operator's tables: they show what partners sent and what failed, exactly when something failed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from pipeline.demo import Demo
from pipeline.errors import PartnerError
from pipeline.ingest import ingest_partner
from pipeline.settings import Settings

GOOD, BROKEN = "hwg-lu", "stadt-lu"  # both on the Kobo emulator


def _shown(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())  # rich wraps long cells


def test_status_shows_a_failed_partner_beside_a_good_one(
    world: Demo, run_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A succeeded run stores no error (NULL, NaN under pandas 3): the table must still render, with the
    failed partner's status and reason in it."""
    ingest_partner(run_settings, GOOD, "run-1")
    monkeypatch.setenv(world.registry.partner(BROKEN).secret_env, "not-the-token")
    with pytest.raises(PartnerError):
        ingest_partner(Settings(), BROKEN, "run-1")
    capsys.readouterr()

    assert cli.main(["status"]) == 0
    shown = _shown(capsys)
    assert f"FAILED {BROKEN}: partner {BROKEN}: GET http://127.0.0.1:" in shown
    assert "credentials rejected; check the partner's secret" in shown
    assert GOOD in shown and f"FAILED {GOOD}" not in shown


def test_partner_data_with_square_brackets_is_shown_as_sent(
    world: Demo, run_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column `ORGTYP[other]` and a value `[/x]` are partner data, not Rich markup: shown as sent, no crash."""
    partner = world.registry.partner(GOOD)
    served = world.served[GOOD]
    scale = next(code for code, item in partner.mapping.items() if world.codebook.item_by_code[item].type == "scale")
    planted = {**served[-1], "_id": 9_501, scale: "[/x]", "ORGTYP[other]": "Verein [b]e.V.[/b]"}
    world.services["kobo"].emulator.add_submissions(partner.connector.asset_uid, [planted])
    ingest_partner(run_settings, GOOD, "run-1")
    capsys.readouterr()

    assert cli.main(["quarantine", "list", "--partner", GOOD]) == 0
    listed = _shown(capsys)
    assert "9501" in listed and "[/x]" in listed
    assert cli.main(["drift", "--partner", GOOD]) == 0
    assert "ORGTYP[other]" in _shown(capsys)
    assert cli.main(["status"]) == 0
    assert GOOD in _shown(capsys)


def test_check_names_a_partner_whose_id_looks_like_markup(
    world: Demo, run_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The registry's error names the partner as written, even when it reads like Rich markup."""
    registry_file = run_settings.partners_file
    text = registry_file.read_text(encoding="utf-8")
    registry_file.write_text(text.replace(f"id: {GOOD}", "id: 'hwg[/x]'", 1), encoding="utf-8")
    capsys.readouterr()

    assert cli.main(["check"]) == 2
    assert "hwg[/x]" in _shown(capsys)


def test_what_the_pipeline_writes_is_readable_by_the_operator_alone(tmp_path: Path) -> None:
    """The working file holds pseudonymised answers and the data folder Prefect's database: no other account on
    the machine reads them. A data folder made too open earlier is closed."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-500:]
    written = [path for path in data_dir.rglob("*")]
    assert any(path.name == "pipeline.duckdb" for path in written)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(data_dir)} is {mode:o}"
