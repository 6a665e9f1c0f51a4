"""Schema drift per partner and run, on a Kobo emulator whose form lost a column, renamed one and sends a new code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from pipeline.context import Context
from pipeline.contract.codebook import Codebook
from pipeline.errors import ConfigError
from pipeline.load.ingest import ingest_partner
from pipeline.registry import load_registry
from pipeline.settings import Settings
from pipeline_flows import cli
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

        run = ingest_partner(Context.from_environment(), PARTNER, "run-1")

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
        first = ingest_partner(Context.from_environment(), PARTNER, "run-1")
        second = ingest_partner(Context.from_environment(), PARTNER, "run-2")
    assert first.drift == [line for line in first.drift if "new answer code '7'" in line]
    assert second.fetched > 0 and second.drift == []


def test_check_names_repeat_groups_kept_in_raw_only(world, run_settings: Settings, capsys) -> None:
    """ODK Central serves a repeat as a link to its subtable (Submissions.<group>), Kobo as an array of entries:
    neither is mapped, and `pipeline check` names them instead of letting them pass unnoticed."""
    awo = world.registry.partner("awo-lu").connector
    row = dict(world.served["awo-lu"][-1])
    odk_row = {**row, "__id": "uuid:mit-wiederholung", "hf6": {**row.get("hf6", {})}}
    odk_row["hf6"]["angebote@odata.navigationLink"] = "Submissions('uuid:mit-wiederholung')/hf6/angebote"
    world.services["odk"].emulator.add_submissions(awo.project_id, awo.form_id, [odk_row])
    caritas = world.registry.partner(PARTNER).connector
    kobo_row = {**world.served[PARTNER][-1], "_id": 90_001, "_uuid": "mit-wiederholung"}
    kobo_row["hf6/angebote"] = [{"hf6/angebote/art": "cafe"}, {"hf6/angebote/art": "feste"}]
    world.services["kobo"].emulator.add_submissions(caritas.asset_uid, [kobo_row])
    for partner_id in ("awo-lu", PARTNER):
        ingest_partner(Context(run_settings), partner_id, f"run-{partner_id}")
    capsys.readouterr()

    assert cli.main(["check"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "awo-lu: repeat group 'hf6/angebote' in 1 response (kept in raw only, not mapped)" in out
    assert f"{PARTNER}: repeat group 'hf6/angebote' in 1 response (kept in raw only, not mapped)" in out


def _register(partner_id: str, **changes: object) -> None:
    """Change one partner's entry in the registry the pipeline reads (the demo wrote it)."""
    path = Path(os.environ["PIPELINE_PARTNERS_FILE"])
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = next(p for p in data["partners"] if p["id"] == partner_id)
    entry.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_questions_left_unmapped_on_purpose_are_not_reported(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codebook: Codebook
) -> None:
    """The partner asks two questions of its own; the operator acknowledges one under `ignore`."""
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        kobo = world.services["kobo"].emulator
        uid = world.registry.partner(PARTNER).connector.asset_uid
        served = [{**row, "intern/team": "Beratung", "intern/neu": "x"} for row in kobo.assets[uid].submissions]
        kobo.add_asset(uid, kobo.assets[uid].token, served)
        _register(PARTNER, ignore=["intern/team"])

        run = ingest_partner(Context.from_environment(), PARTNER, "run-1")

        unknown = query(Settings(), "select field, responses from ops.drift where kind = 'unknown_column'")
        assert unknown == [("intern/neu", len(served))]
        assert [line for line in run.drift if "unknown column" in line] == [
            f"{PARTNER}: unknown column 'intern/neu' in {len(served)} responses (kept in raw, not loaded: map it or "
            "leave it)"
        ]
        assert query(Settings(), "select unmapped_fields from ops.runs")[0][0] == ["intern/neu"]
        assert query(Settings(), "select count(*) from raw.records where record like '%intern/team%'")[0][0] == len(
            served
        )

        _register(PARTNER, ignore=["intern/team", "hf1/q01"])
        with pytest.raises(ConfigError, match="partner caritas-lu: ignore: 'hf1/q01' is mapped"):
            load_registry(Path(os.environ["PIPELINE_PARTNERS_FILE"]), codebook)


def test_a_mapped_column_gone_is_reported_from_the_first_run_without_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LimeSurvey exports every column of the survey table: three responses without one prove it gone."""
    partner_id, column = "stadt-bildung-lu", "HF1Q01"
    with partner_world(settings, tmp_path, monkeypatch, partner_id) as world:
        first = ingest_partner(Context.from_environment(), partner_id, "run-1")
        assert first.drift == [line for line in first.drift if "new answer code" in line]

        config = world.registry.partner(partner_id).connector
        rows = world.served[partner_id]
        last = max(row["id"] for row in rows)
        later = [{**row, "id": last + 1 + i} for i, row in enumerate(rows[-3:])]
        # The partner set the survey up again without the question: its table has no such column any more.
        rebuilt = [{k: v for k, v in row.items() if k != column} for row in rows + later]
        world.services["limesurvey"].emulator.add_survey(config.survey_id, config.username, rebuilt)

        second = ingest_partner(Context.from_environment(), partner_id, "run-2")

    assert second.inserted == 3
    assert second.drift == [
        f"{partner_id}: mapped column {column!r} in none of 3 responses (renamed or removed in the partner's form?)"
    ]


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

        run = ingest_partner(Context.from_environment(), "awo-lu", "run-1")

        assert run.fetched == len(linked)
        assert run.unmapped_fields == set()
        assert not [line for line in run.drift if "unknown column" in line]
        assert query(Settings(), "select count(*) from ops.drift where kind = 'unknown_column'") == [(0,)]
