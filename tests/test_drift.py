"""Schema drift per partner and run, on a Kobo emulator whose form lost a column, renamed one and sends a new code."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import cli
from pipeline.ingest import ingest_partner
from pipeline.settings import Settings
from tests.conftest import partner_world, query

PARTNER = "caritas-lu"
ALLOWED = {"1", "2", "3", "4", "5", "wn", "ka"}


def _changed_form(submissions: list[dict]) -> list[dict]:
    """hf1/q02 dropped, hf1/q03 renamed to hf1/q03_neu, 'sehr gut' answered to hf1/q01 by the first three."""
    changed = []
    for i, submission in enumerate(submissions):
        row = {k: v for k, v in submission.items() if k != "hf1/q02"}
        if "hf1/q03" in row:
            row["hf1/q03_neu"] = row.pop("hf1/q03")
        if i < 3:
            row["hf1/q01"] = "sehr gut"
        changed.append(row)
    return changed


def test_drift_names_lost_renamed_and_new_codes_once_per_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        kobo = world.services["kobo"].emulator
        uid = world.registry.partner(PARTNER).connector.asset_uid
        served = _changed_form(kobo.assets[uid].submissions)
        kobo.add_asset(uid, kobo.assets[uid].token, served)

        run = ingest_partner(Settings(), PARTNER, "run-1")

        new_codes: dict[str, int] = {}
        for row in served:
            if row.get("hf1/q01") not in ALLOWED | {None}:
                new_codes[row["hf1/q01"]] = new_codes.get(row["hf1/q01"], 0) + 1
        renamed = sum("hf1/q03_neu" in row for row in served)
        drift = query(
            Settings(),
            "select kind, field, code, responses from ops.drift where run_id = 'run-1' and partner_id = ? "
            "union all select 'missing_column', field, '', expected from ops.column_coverage "
            "where run_id = 'run-1' and carried = 0 order by all",
            [PARTNER],
        )
        assert drift == sorted(
            [
                ("missing_column", "hf1/q02", "", len(served)),
                ("missing_column", "hf1/q03", "", len(served)),
                ("unknown_column", "hf1/q03_neu", "", renamed),
                *[("new_code", "HF1_01", code, n) for code, n in new_codes.items()],
            ]
        )
        assert new_codes["sehr gut"] == 3

        # Raw keeps every response and the load goes on: only the responses with a new code are quarantined.
        assert query(Settings(), "select count(*) from raw.records")[0][0] == len(served)
        assert run.quarantined == sum(new_codes.values()) and run.inserted == len(served) - run.quarantined
        assert "hf1/q03_neu" in query(Settings(), "select unmapped_fields from ops.runs")[0][0]
        assert any("new answer code 'sehr gut' for HF1_01 (hf1/q01) in 3 responses" in line for line in run.drift)
        assert sum("mapped column" in line for line in run.drift) == 2

        assert cli.main(["drift", "--partner", PARTNER]) == 0
        shown = capsys.readouterr().out
        assert "'sehr gut'" in shown and "hf1/q03_neu" in shown and "hf1/q02" in shown
        assert cli.main(["status"]) == 0
        status = capsys.readouterr().out
        assert f"drift {PARTNER}: unknown columns 1, mapped columns gone 2, new answer codes {len(new_codes)}" in status


def test_a_quiet_run_reports_no_drift_and_skipped_questions_are_no_lost_column(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kobo omits a question nobody answered: a handful of responses without it is not a column lost."""
    with partner_world(settings, tmp_path, monkeypatch, PARTNER):
        first = ingest_partner(Settings(), PARTNER, "run-1")
        second = ingest_partner(Settings(), PARTNER, "run-2")
    assert first.drift == [line for line in first.drift if "new answer code '7'" in line]
    assert second.fetched > 0 and second.drift == []


def test_links_to_odk_repeat_tables_are_known_metadata_not_unknown_columns(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Central lists a repeat group as `<repeat>@odata.navigationLink`; the connector learns such keys while it
    pulls, so the loader must ask it for its metadata after the pull, not before."""
    with partner_world(settings, tmp_path, monkeypatch, "awo-lu") as world:
        odk = world.services["odk"].emulator
        config = world.registry.partner("awo-lu").connector
        linked = [
            {**row, "kinder@odata.navigationLink": f"Submissions('{row['__id']}')/kinder"}
            for row in world.served["awo-lu"]
        ]
        odk.add_submissions(config.project_id, config.form_id, linked)

        run = ingest_partner(Settings(), "awo-lu", "run-1")

        assert run.fetched == len(linked)
        assert run.unmapped_fields == set()
        assert not [line for line in run.drift if "unknown column" in line]
        assert query(Settings(), "select count(*) from ops.drift where kind = 'unknown_column'") == [(0,)]
