"""The operator's tables: they show what partners sent and what failed, exactly when something failed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

import pytest

from pipeline.context import Context
from pipeline.errors import PartnerError
from pipeline.load.ingest import ingest_partner
from pipeline.load.runs import COUNTS
from pipeline.settings import Settings
from pipeline_flows import cli
from pipeline_testkit.demo import Demo
from tests.conftest import query

GOOD, BROKEN = "hwg-lu", "stadt-lu"  # both on the Kobo emulator


def _shown(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())  # rich wraps long cells


def _pipeline(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The command as an operator runs it, in the environment the test set up."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline_flows.cli", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_status_shows_a_failed_partner_beside_a_good_one(
    world: Demo, run_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A succeeded run stores no error (NULL, NaN under pandas 3): the table must still render, with the
    failed partner's status and reason in it."""
    ingest_partner(Context(run_settings), GOOD, "run-1")
    monkeypatch.setenv(world.registry.partner(BROKEN).secret_env, "not-the-token")
    with pytest.raises(PartnerError):
        ingest_partner(Context.from_environment(), BROKEN, "run-1")
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
    ingest_partner(Context(run_settings), GOOD, "run-1")
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

    assert cli.main(["check"]) == 3, "a configuration error"
    assert "hwg[/x]" in " ".join(capsys.readouterr().err.split())


def test_what_the_pipeline_writes_is_readable_by_the_operator_alone(tmp_path: Path) -> None:
    """The working file holds pseudonymised answers and the data folder Prefect's database: no other account on
    the machine reads them. A data folder made too open earlier is closed."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    env = {**os.environ, "PIPELINE_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_flows.cli", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-500:]
    written = [path for path in data_dir.rglob("*")]
    assert any(path.name == "pipeline.duckdb" for path in written)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(data_dir)} is {mode:o}"


def test_version_prints_the_installed_version() -> None:
    done = _pipeline("--version")
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout == f"pipeline {metadata.version('chancencheck-pipeline')}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--no-such-option"],
        ["no-such-command"],
        ["erase", "--partner", GOOD],
        ["--log-level", "LOUD", "status"],
    ],
)
def test_a_usage_error_exits_with_2_and_says_why(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_flows.cli", *args],
        env={**os.environ, "PIPELINE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Usage: pipeline" in done.stderr and "Error:" in done.stderr
    assert done.stdout == ""


def test_an_invalid_setting_is_a_configuration_error_naming_the_variable(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_flows.cli", "status"],
        env={**os.environ, "PIPELINE_DATA_DIR": str(tmp_path), "PIPELINE_DISCLOSURE_K": "fünf"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3
    assert done.stderr.startswith("error: invalid settings: PIPELINE_DISCLOSURE_K: Input should be a valid integer")
    assert "Traceback" not in done.stderr


def test_json_output_stays_alone_on_stdout_whatever_the_log_level(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_flows.cli", "--log-level", "DEBUG", "status", "--json"],
        env={**os.environ, "PIPELINE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert json.loads(done.stdout) == []


def test_status_json_has_a_row_per_partner_with_the_tables_fields(
    world: Demo, run_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest_partner(Context(run_settings), GOOD, "run-1")
    monkeypatch.setenv(world.registry.partner(BROKEN).secret_env, "not-the-token")
    with pytest.raises(PartnerError):
        ingest_partner(Context.from_environment(), BROKEN, "run-1")
    capsys.readouterr()

    assert cli.main(["status", "--json"]) == 0
    rows = {row["partner_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {GOOD, BROKEN}
    expected = {"partner_id", "status", "finished_at", *COUNTS, "off_by", "gone", "error"}
    assert all(set(row) == expected for row in rows.values())
    good, broken = rows[GOOD], rows[BROKEN]
    assert good["fetched"] == len(world.served[GOOD]) and good["off_by"] == 0 and good["error"] is None
    assert datetime.fromisoformat(good["finished_at"]).tzinfo is not None
    assert broken["status"] == "failed" and "credentials rejected" in broken["error"]


def test_quarantine_list_json_holds_each_failed_check_with_the_value_as_sent(
    world: Demo, run_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    partner = world.registry.partner(GOOD)
    scale = next(code for code, item in partner.mapping.items() if world.codebook.item_by_code[item].type == "scale")
    planted = {**world.served[GOOD][-1], "_id": 9_502, scale: "[/x]"}
    world.services["kobo"].emulator.add_submissions(partner.connector.asset_uid, [planted])
    ingest_partner(Context(run_settings), GOOD, "run-1")
    capsys.readouterr()

    assert cli.main(["quarantine", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert (GOOD, "9502", "[/x]") in [(row["partner_id"], row["source_id"], row["value"]) for row in rows]
    fields = {"partner_id", "source", "source_id", "field", "value", "reason", "quarantined_at"}
    assert all(set(row) == fields for row in rows)
    assert all(datetime.fromisoformat(row["quarantined_at"]).tzinfo is not None for row in rows)
    # the same rows the table counts, the demo's own bad input among them
    assert cli.main(["quarantine", "list"]) == 0
    assert f"{len(rows)} failed checks" in _shown(capsys)


def test_releases_json_lists_each_release_with_its_audit(
    world: Demo, run_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["releases", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    for partner in world.registry.partners:
        ingest_partner(Context(run_settings), partner.id, "run-1")
    assert cli.main(["publish"]) == 0
    capsys.readouterr()

    assert cli.main(["releases", "--json"]) == 0
    [made] = json.loads(capsys.readouterr().out)
    assert made["current"] is True and made["audit_passed"] is True
    assert made["cells"] > 0 and made["primary"] >= 0 and made["secondary"] >= 0
    assert datetime.fromisoformat(made["published_at"])
    assert {w["wave"] for w in made["waves"]} <= {w.code for w in world.registry.waves}


def test_erase_asks_first_and_a_no_erases_nothing(world: Demo, run_settings: Settings) -> None:
    ingest_partner(Context(run_settings), GOOD, "run-1")
    source_id = str(world.served[GOOD][0]["_id"])
    stored = "select count(*) from raw.records where partner_id = ? and source_id = ?"
    assert query(run_settings, stored, [GOOD, source_id]) == [(1,)]

    done = _pipeline("erase", "--partner", GOOD, "--response", source_id, stdin="n\n")
    assert done.returncode == 1, done.stderr[-500:]
    assert f"Erase response {source_id} of {GOOD}" in done.stdout and "nothing erased" in done.stdout
    assert query(run_settings, stored, [GOOD, source_id]) == [(1,)]
    assert query(run_settings, "select count(*) from ops.erased") == [(0,)]


def test_erasing_an_unknown_id_fails_and_records_nothing(world: Demo, run_settings: Settings) -> None:
    ingest_partner(Context(run_settings), GOOD, "run-1")

    done = _pipeline("erase", "--partner", GOOD, "--response", "no-such-response", "--yes")
    assert done.returncode == 1
    said = " ".join(done.stderr.split())
    assert f"partner {GOOD}: nothing is stored under response id 'no-such-response'" in said
    assert "--force" in said
    assert query(run_settings, "select count(*) from ops.erased") == [(0,)]


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["quarantine", "--help"]])
def test_the_command_starts_without_the_libraries_its_path_does_not_need(argv: list[str]) -> None:
    """Every `pipeline` call pays for what it imports: Prefect, pandas, the disclosure control's solvers and the
    report's charts only where a command uses them."""
    script = (
        "import sys\n"
        "from pipeline_flows import cli\n"
        f"cli.main({argv!r})\n"
        "heavy = ('prefect', 'pandas', 'pandera', 'numba', 'scipy', 'matplotlib', 'duckdb')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
