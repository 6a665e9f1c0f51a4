"""Derived artefacts follow their inputs: a run with nothing new rebuilds neither the marts nor the analyst
file, and any change of what they are made of (responses, labels) rebuilds both."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.load.runs import PartnerRun
from pipeline.publish import analyst
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_flows import cli
from pipeline_testkit.emulators import files as drops
from tests.conftest import found_in_file, partner_world, query

PARTNER = "hwg-lu"


def _run(run_id: str) -> tuple[object, object, int]:
    """One partner's ingest, the marts and the analyst file; returns when each was built and the file's inode."""
    _run_partner(PARTNER, run_id)
    built = dict(query(Settings(), "select artefact, built_at from ops.built_from"))
    return built["marts"], built[analyst.ANALYST], Settings().analyst_db_path.stat().st_ino


def _analyst_wave_labels(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {label for (label,) in con.execute("select distinct wave_label from marts.item_results").fetchall()}
    finally:
        con.close()


def test_nothing_new_rebuilds_nothing_and_a_renamed_wave_rebuilds_both(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER):
        first = _run("run-1")
        assert _run("run-2") == first, "nothing new: marts and analyst file as they were"

        registry = Settings().partners_file
        data = yaml.safe_load(registry.read_text(encoding="utf-8"))
        data["waves"][-1]["label"] = "Welle 2026 (umbenannt)"
        registry.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        marts_at, analyst_at, inode = _run("run-3")
        assert marts_at > first[0] and analyst_at > first[1] and inode != first[2]
        labels = {label for (label,) in query(Settings(), "select distinct wave_label from marts.item_results")}
        assert "Welle 2026 (umbenannt)" in labels
        assert "Welle 2026 (umbenannt)" in _analyst_wave_labels(Settings().analyst_db_path)


KOBO_PARTNER = "caritas-lu"


def _analyst_content(path: Path) -> dict[str, object]:
    """Everything an analyst reads in the file: every table's rows (in order), the views' rows, the comments."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        relations = con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() union all "
            "select schema_name || '.' || view_name from duckdb_views() where not internal order by 1"
        ).fetchall()
        content: dict[str, object] = {
            name: sorted(map(repr, con.execute(f"from {name}").fetchall())) for (name,) in relations
        }
        content["comments"] = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() "
            "where database_name = current_database() order by all"
        ).fetchall()
        return content
    finally:
        con.close()


def test_marts_and_analyst_file_follow_new_edited_and_erased_respondents_as_a_whole_build_would(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uncompressed_storage: None
) -> None:
    """The marts are rebuilt for the waves whose responses changed, and the next analyst file starts from the
    previous one and takes in only the respondents that changed; both then equal what a whole build makes. An
    erased respondent leaves no byte in the analyst file."""
    with partner_world(settings, tmp_path, monkeypatch, KOBO_PARTNER) as world:
        _run_partner(KOBO_PARTNER, "run-1")
        kobo = world.services["kobo"].emulator
        uid = world.registry.partner(KOBO_PARTNER).connector.asset_uid
        latest = max(world.served[KOBO_PARTNER], key=lambda s: s["_submission_time"])
        # the new respondent and the edit bring free texts, which the analyst file keeps in place
        new = {**_new_submission(latest, 77_000_001), "hf2/q08": "Mehr Sprachkurse, Rückruf unter 0621 504-1234"}
        edited = {**latest, "hf1/q01": _other(latest.get("hf1/q01")), "hf2/q08": "Dolmetschpool ausbauen"}
        kobo.add_submissions(uid, [new, edited])
        run = _run_partner(KOBO_PARTNER, "run-2")
        assert (run.inserted, run.updated) == (1, 1)
        texts = query(
            Settings(),
            "select answer_text from core.answers where answer_text like 'Mehr Sprachkurse%' "
            "or answer_text = 'Dolmetschpool ausbauen'",
        )
        assert len(texts) == 2, texts
        apart = "select count(*) from core.answers as a left join core.responses as r using (respondent_key) "
        apart += "where a.wave is distinct from r.wave or a.org_type is distinct from r.org_type "
        apart += "or a.record_key is distinct from core.record_key(r.respondent_key)"
        assert query(Settings(), apart) == [(0,)], "every answer carries its response's wave, type and key, edits too"

        assert _marts_content() == _marts_rebuilt_whole(), "the open wave rebuilt: marts as if built whole"
        path = Settings().analyst_db_path
        followed = _analyst_content(path)
        assert "'Mehr Sprachkurse, Rückruf unter [Telefon entfernt]'" in str(followed["marts.free_texts"])
        assert "'Dolmetschpool ausbauen'" in str(followed["marts.free_texts"])
        path.unlink()
        analyst.refresh(Context(Settings()))
        assert _analyst_content(path) == followed, "the file brought up to date equals the file written whole"

        key = hmac.new(
            os.environ[Settings().respondent_key_env].encode(), f"{KOBO_PARTNER}:{new['_id']}".encode(), hashlib.sha256
        ).hexdigest()
        _run_partner(KOBO_PARTNER, "run-3")  # nothing new: the file as it was, the new respondent in it
        assert "file bytes" in found_in_file(Settings(), [key], path).get(key, []), "the search sees it before"
        erase = ["erase", "--partner", KOBO_PARTNER, "--response", str(new["_id"]), "--by", "Datenschutz", "--yes"]
        assert cli.main(erase) == 0
        assert found_in_file(Settings(), [key], path) == {}, "the erased respondent is in no byte of the analyst file"

        # an erasure in the first wave: that wave rebuilt, and the changes of the next one computed again
        [(first,)] = query(
            Settings(),
            "select s.source_id from core.responses as r join staging.responses as s on s.record_id = r.record_id "
            "order by r.submitted_at limit 1",
        )
        erase = ["erase", "--partner", KOBO_PARTNER, "--response", first, "--by", "Datenschutz", "--yes"]
        before = _marts_content()
        assert cli.main(erase) == 0
        after = _marts_content()
        assert after != before and after == _marts_rebuilt_whole(), "the first wave rebuilt: marts as if built whole"


def _marts_content() -> dict[str, list[tuple]]:
    """Every mart's rows in the table's order (the release reads them in that order); the free texts, which are
    kept in place and never published, as a sorted list."""
    con = duckdb.connect(str(Settings().db_path), read_only=True)
    try:
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by table_name"
        ).fetchall()
        order = {"free_texts": " order by all"}
        return {name: con.execute(f'from marts."{name}"{order.get(name, "")}').fetchall() for (name,) in tables}
    finally:
        con.close()


def _marts_rebuilt_whole() -> dict[str, list[tuple]]:
    """The marts built again from all of core, every wave (what they were last built from forgotten)."""
    con = duckdb.connect(str(Settings().db_path))
    try:
        con.execute("delete from ops.built_from where artefact like 'marts%'")
    finally:
        con.close()
    build_marts(Context(Settings()))
    return _marts_content()


def _run_partner(partner: str, run_id: str) -> PartnerRun:
    settings = Settings()
    run = ingest_partner(Context(settings), partner, run_id)
    build_marts(Context(settings))
    analyst.refresh(Context(settings))
    return run


def test_marts_built_from_the_changes_of_several_loads_equal_a_whole_build(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loads between two builds each leave the marts' log of changed answers: a respondent counted by the last
    build edited twice (the second time with a field left empty) and then rejected in review, one new and then
    edited, one new and then rejected. The next build takes the open wave from its rows of the last
    build and these changes alone, and equals a whole build."""
    with partner_world(settings, tmp_path, monkeypatch, KOBO_PARTNER) as world:
        _run_partner(KOBO_PARTNER, "run-1")
        kobo = world.services["kobo"].emulator
        uid = world.registry.partner(KOBO_PARTNER).connector.asset_uid
        latest = max(world.served[KOBO_PARTNER], key=lambda s: s["_submission_time"])
        fresh = [_new_submission(latest, 77_000_101 + i) for i in range(2)]

        def load(run_id: str, *submissions: dict) -> PartnerRun:
            kobo.add_submissions(uid, list(submissions))
            return ingest_partner(Context(Settings()), KOBO_PARTNER, run_id)

        rejected = {"_validation_status": {"uid": "validation_status_not_approved"}}
        emptied = {key: value for key, value in latest.items() if not key.startswith("hf2/")}
        runs = [
            load("run-2", {**latest, "hf1/q01": _other(latest.get("hf1/q01"))}, *fresh),
            load("run-3", {**emptied, "hf1/q02": _other(latest.get("hf1/q02"))}, {**fresh[0], "hf1/q03": "1"}),
            load("run-4", {**fresh[1], **rejected}, {**emptied, **rejected}),
        ]
        assert [(r.inserted, r.updated, r.quarantined, len(r.gone_ids)) for r in runs] == [
            (2, 1, 0, 0), (0, 2, 0, 0), (0, 0, 0, 2)
        ]  # fmt: skip
        assert query(Settings(), "select count(*) from ops.answers_since_marts")[0][0] > 0, "the loads kept a log"

        built = build_marts(Context(Settings()))
        assert built.waves and not built.whole, f"built from the changes: {built}"
        assert query(Settings(), "select count(*) from ops.answers_since_marts") == [(0,)], "the build used it up"
        assert _marts_content() == _marts_rebuilt_whole(), "the marts as if built whole"


FILES_PARTNER = "staatsphilharmonie-lu"


def test_a_response_moved_to_the_other_wave_is_taken_out_of_one_and_into_the_other(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A later drop dates a 2025 response into 2026 and leaves a 2026 response's first Handlungsfeld unanswered:
    both waves are built from the changes, and equal a whole build; so does the analyst file brought up to date."""
    with partner_world(settings, tmp_path, monkeypatch, FILES_PARTNER) as world:
        _run_partner(FILES_PARTNER, "run-1")
        rows = [
            r for r, g in zip(world.served[FILES_PARTNER], world.generated[FILES_PARTNER], strict=True) if not g.invalid
        ]
        old = next(row for row in rows if row["Abgeschickt am"].split(".")[2].startswith("2025"))
        new = next(row for row in rows if row["Abgeschickt am"].split(".")[2].startswith("2026"))
        moved = {**old, "Abgeschickt am": new["Abgeschickt am"]}
        emptied = {column: ("" if column.startswith("F1.") else value) for column, value in new.items()}
        folder = Path(world.services["files"].overrides[FILES_PARTNER]["folder"])
        partner = world.registry.partner(FILES_PARTNER)
        drops.write_csv(folder / "Korrektur.csv", drops.header(partner), [moved, emptied])
        run = ingest_partner(Context(Settings()), FILES_PARTNER, "run-2")
        assert (run.updated, run.quarantined) == (2, 0)

        built = build_marts(Context(Settings()))
        assert built.waves == ["2025", "2026"] and not built.whole, f"built from the changes: {built}"
        assert _marts_content() == _marts_rebuilt_whole(), "the marts as if built whole"
        path = analyst.refresh(Context(Settings()))
        followed = _analyst_content(path)
        path.unlink()
        analyst.refresh(Context(Settings()))
        assert _analyst_content(path) == followed, "the file brought up to date equals the file written whole"


def _new_submission(like: dict, submission_id: int) -> dict:
    instance = str(uuid.uuid4())
    return {**like, "_id": submission_id, "_uuid": instance, "meta/instanceID": f"uuid:{instance}"}


def _other(code: object) -> str:
    return "5" if code != "5" else "4"
