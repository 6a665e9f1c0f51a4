"""Loading into a real DuckDB file: idempotence, accounting, latest version wins, no identifiers."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import duckdb
import pytest
import yaml

from pipeline import db
from pipeline.context import Context
from pipeline.errors import ConfigError, PartnerError, WorkingFileBusy
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_flows import cli
from pipeline_testkit import demo
from pipeline_testkit.demo import Demo
from tests.conftest import partner_world, query


def _ingest_all(world: Demo, settings: Settings) -> dict:
    return {p.id: ingest_partner(Context(settings), p.id, uuid.uuid4().hex) for p in world.registry.partners}


def _core(settings: Settings) -> tuple[list, list]:
    return (
        query(settings, "select * exclude (first_loaded_at, updated_at) from core.responses order by all"),
        query(settings, "select * from core.answers order by all"),
    )


def _invariant_holds(run) -> bool:
    return run.fetched == run.inserted + run.updated + run.unchanged + run.quarantined + run.duplicates


def test_every_fetched_response_is_loaded_or_quarantined(world: Demo, run_settings: Settings) -> None:
    runs = _ingest_all(world, run_settings)
    for partner_id, run in runs.items():
        served = world.generated[partner_id]
        invalid = sum(r.invalid for r in served)
        assert (run.fetched, run.quarantined, run.inserted) == (len(served), invalid, len(served) - invalid)
        assert _invariant_holds(run)
    loaded = query(run_settings, "select partner_id, count(*) from core.responses group by all")
    assert dict(loaded) == {p: r.inserted for p, r in runs.items()}


def test_loading_the_same_data_twice_changes_nothing(world: Demo, run_settings: Settings) -> None:
    _ingest_all(world, run_settings)
    before = _core(run_settings)
    con = duckdb.connect(str(run_settings.db_path))
    con.execute("delete from ops.cursors")  # forget the cursors: the next pull re-reads everything
    con.close()
    again = _ingest_all(world, run_settings)
    assert _core(run_settings) == before
    for partner_id, run in again.items():
        assert run.unchanged == len(world.served[partner_id]) and run.inserted == run.updated == 0
        assert _invariant_holds(run)
    raw = query(run_settings, "select count(*) from raw.records")[0][0]
    assert raw == sum(len(s) for s in world.served.values())


def test_mixed_input_is_accounted_for_response_by_response(world: Demo, run_settings: Settings) -> None:
    uid = world.registry.partner("hwg-lu").connector.asset_uid
    served = world.served["hwg-lu"]
    first = ingest_partner(Context(run_settings), "hwg-lu", "run-1")
    latest = max(served, key=lambda s: s["_submission_time"])
    code = next(k for k, v in latest.items() if k.startswith("HF1_") and v in ("1", "2", "3", "4", "5"))
    edited = {**latest, code: "1" if latest[code] != "1" else "2"}
    resent = dict(latest)
    new_valid = {**latest, "_id": 70_001, "_uuid": "n1"}
    new_invalid = {**latest, "_id": 70_002, "_uuid": "n2", code: "9"}
    duplicate = dict(new_valid)
    world.services["kobo"].emulator.add_submissions(uid, [resent, edited, new_valid, new_invalid, duplicate])

    second = ingest_partner(Context(run_settings), "hwg-lu", "run-2")

    at_cursor = sum(1 for s in served if s["_submission_time"] == latest["_submission_time"])
    # On the page: the responses at the cursor's second (one of them is `latest`, listed again as
    # `resent` and `edited`), then new_valid, new_invalid and duplicate.
    assert second.fetched == at_cursor + 5
    assert second.duplicates == 3  # latest and resent are superseded by edited on the same page; duplicate
    assert second.updated == 1  # edited
    assert second.inserted == 1  # new_valid
    assert second.quarantined == 1  # new_invalid
    assert second.unchanged == at_cursor - 1
    assert _invariant_holds(first) and _invariant_holds(second)
    value = query(
        run_settings,
        "select a.answer_code from core.answers a join core.responses r using (respondent_key) "
        "join staging.responses s on s.record_id = r.record_id where s.source_id = ? and a.item_code = ?",
        [str(latest["_id"]), code],
    )
    assert value == [(edited[code],)], "the edited version wins in core"
    versions = query(run_settings, "select count(*) from raw.records where source_id = ?", [str(latest["_id"])])
    assert versions == [(2,)], "raw keeps the history of both versions"
    reasons = query(run_settings, "select source_id, field, value, reason from ops.quarantine where run_id = 'run-2'")
    assert reasons == [("70002", code, "9", "answer code not among 1 2 3 4 5 wn ka")]


def _a_week_passes(settings: Settings, partner_id: str) -> None:
    con = duckdb.connect(str(settings.db_path))
    con.execute("update ops.full_reads set read_at = read_at - interval 8 days where partner_id = ?", [partner_id])
    con.close()


def _answer(settings: Settings, source_id: str, item: str) -> str | None:
    found = query(
        settings,
        "select a.answer_code from core.answers a join core.responses r using (respondent_key) "
        "join staging.responses s on s.record_id = r.record_id where s.source_id = ? and a.item_code = ?",
        [source_id, item],
    )
    return found[0][0] if found else None


@pytest.mark.parametrize(("partner_id", "id_field"), [("hwg-lu", "_id"), ("stadt-bildung-lu", "id")])
def test_an_edit_below_the_cursor_is_loaded_at_the_next_full_read(
    world: Demo, run_settings: Settings, partner_id: str, id_field: str
) -> None:
    """Kobo and LimeSurvey cannot list edited responses (an edit keeps the id and the submission time): a pull
    from the cursor misses an edit of an early response; the weekly full read (reread_days) loads it."""
    partner = world.registry.partner(partner_id)
    assert partner.connector.reread_days == 7
    first = ingest_partner(Context(run_settings), partner_id, "run-1")
    served = world.served[partner_id]
    other = served[-1]
    early, column, item = next(
        (early, column, item)
        for early in served[:10]  # well below the cursor
        for column, item in partner.mapping.items()
        if "=" not in item
        and early.get(column)
        and other.get(column)
        and early[column] != other[column]
        and None not in (_answer(run_settings, str(r[id_field]), item) for r in (early, other))
    )
    wanted = _answer(run_settings, str(other[id_field]), item)
    before = _answer(run_settings, str(early[id_field]), item)
    edited = {**early, column: other[column]}
    emulator = world.services[partner.connector.kind].emulator
    if partner.connector.kind == "kobo":
        emulator.edit(partner.connector.asset_uid, edited)  # type: ignore[attr-defined]
    else:
        emulator.store(partner.connector.survey_id, [edited])  # type: ignore[attr-defined]

    within_the_week = ingest_partner(Context(run_settings), partner_id, "run-2")
    assert within_the_week.updated == 0 and _answer(run_settings, str(early[id_field]), item) == before
    _a_week_passes(run_settings, partner_id)
    a_week_later = ingest_partner(Context(run_settings), partner_id, "run-3")

    assert a_week_later.fetched == first.fetched == len(served)
    assert (a_week_later.updated, a_week_later.inserted) == (1, 0)
    assert a_week_later.unchanged == len(served) - 1  # a quarantined one read again is unchanged too
    assert _invariant_holds(a_week_later)
    assert _answer(run_settings, str(early[id_field]), item) == wanted != before
    read_at = query(run_settings, "select read_at from ops.full_reads where partner_id = ?", [partner_id])[0][0]
    assert (datetime.now(UTC) - read_at).total_seconds() < 120, "the full read is recorded when it ends"


def _in_core(settings: Settings, source_id: str) -> bool:
    return bool(
        query(
            settings,
            "select 1 from core.responses r join staging.responses s on s.record_id = r.record_id "
            "where s.source_id = ?",
            [source_id],
        )
    )


def test_a_kobo_submission_a_reviewer_marks_not_approved_leaves_core_until_approved(
    world: Demo, run_settings: Settings
) -> None:
    """KPI's validation status is the partner's review, as ODK Central's review state is: a submission marked
    "Not Approved" (a test entry, an unusable one) leaves core at the next full read and is counted with the gone
    ones; one marked "Approved" changes no answer, so it is no new version; approved again, the first returns."""
    partner = world.registry.partner("hwg-lu")
    uid = partner.connector.asset_uid  # type: ignore[union-attr]
    emulator = world.services["kobo"].emulator
    first = ingest_partner(Context(run_settings), partner.id, "run-1")
    loaded = [str(r["_id"]) for r in world.served[partner.id] if _in_core(run_settings, str(r["_id"]))]
    refused, approved = int(loaded[0]), int(loaded[1])
    emulator.review(uid, refused, "validation_status_not_approved", "Not Approved")
    emulator.review(uid, approved, "validation_status_approved", "Approved")

    _a_week_passes(run_settings, partner.id)
    reviewed = ingest_partner(Context(run_settings), partner.id, "run-2")
    assert (reviewed.gone, reviewed.updated, reviewed.inserted) == (1, 0, 0)
    assert reviewed.gone_ids == [str(refused)]
    assert reviewed.fetched == first.fetched - 1 and _invariant_holds(reviewed)
    assert not _in_core(run_settings, str(refused)) and _in_core(run_settings, str(approved))
    assert query(run_settings, "select source_id from ops.rejected_by_partner") == [(str(refused),)]

    emulator.review(uid, refused, "validation_status_approved", "Approved")
    _a_week_passes(run_settings, partner.id)
    again = ingest_partner(Context(run_settings), partner.id, "run-3")
    assert again.inserted + again.updated == 1 and _in_core(run_settings, str(refused))
    assert query(run_settings, "select count(*) from ops.rejected_by_partner") == [(0,)]


def test_kobo_versions_stored_before_reviews_were_volatile_are_not_reloaded(
    world: Demo, run_settings: Settings
) -> None:
    """A working file whose Kobo versions were hashed whole (before 2026-12-06) is migrated: the next full read
    finds every submission unchanged instead of loading each again as updated."""
    first = ingest_partner(Context(run_settings), "hwg-lu", "run-1")
    con = duckdb.connect(str(run_settings.db_path))
    con.execute("update raw.records set record_sha256 = sha256(record::varchar) where source like 'kobo:%'")
    con.execute("delete from ops.migrations where name = '120_kobo_review_no_version.sql'")
    con.close()
    _a_week_passes(run_settings, "hwg-lu")
    again = ingest_partner(Context(run_settings), "hwg-lu", "run-2")
    assert (again.updated, again.inserted) == (0, 0)
    assert again.unchanged == first.fetched - again.duplicates


@pytest.mark.parametrize(
    ("partner_id", "id_field"), [("hwg-lu", "_id"), ("stadt-bildung-lu", "id"), ("awo-lu", "__id")]
)
def test_responses_deleted_at_the_partner_are_reported_by_the_next_full_read_and_kept(
    world: Demo, run_settings: Settings, partner_id: str, id_field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted response just stops being listed: only a full read can tell. The operator learns which (run
    report, `pipeline status`) and decides; nothing is removed without them."""
    partner = world.registry.partner(partner_id)
    first = ingest_partner(Context(run_settings), partner_id, "run-1")
    loaded = {row[0] for row in query(run_settings, "select source_id from staging.responses")}
    deleted = [str(row[id_field]) for row in world.served[partner_id] if str(row[id_field]) in loaded][:2]
    emulator = world.services[partner.connector.kind].emulator
    for source_id in deleted:
        if partner.connector.kind == "kobo":
            emulator.delete(partner.connector.asset_uid, int(source_id))  # type: ignore[attr-defined]
        elif partner.connector.kind == "odk":
            emulator.delete(partner.connector.project_id, partner.connector.form_id, source_id)  # type: ignore[attr-defined]
        else:
            emulator.delete(partner.connector.survey_id, int(source_id))  # type: ignore[attr-defined]

    incremental = ingest_partner(Context(run_settings), partner_id, "run-2")
    con = duckdb.connect(str(run_settings.db_path))
    con.execute("update ops.full_reads set read_at = read_at - interval 8 days")
    con.close()
    full = ingest_partner(Context(run_settings), partner_id, "run-3")

    assert first.gone == 0 and incremental.gone is None, "a read from the cursor says nothing of deletions"
    assert full.gone == 2 and set(full.gone_ids) == set(deleted)
    assert full.fetched == first.fetched - 2 and _invariant_holds(full)
    still = query(run_settings, "select count(*) from core.responses where partner_id = ?", [partner_id])[0][0]
    assert still == first.inserted, "kept until the operator erases them"
    assert cli.main(["status"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert f"{partner_id}: 2 responses in core are no longer at the partner (deleted there?)" in shown
    assert all(source_id in shown for source_id in deleted)


def test_a_pull_of_many_batches_leaves_its_tables_merged_into_few_row_groups(
    settings: Settings, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_BATCH_ROWS", "5")
    with partner_world(settings, tmp_path, monkeypatch, "stadt-lu", page_size=10) as world:
        run = ingest_partner(Context.from_environment(), "stadt-lu", "run-1")
        groups = query(
            Settings(),
            "select count(distinct row_group_id) from pragma_storage_info('raw.records') "
            "union all select count(distinct row_group_id) from pragma_storage_info('core.responses')",
        )
    assert run.fetched == len(world.generated["stadt-lu"]) and run.pages == 18
    assert groups == [(1,), (1,)], "the batches' small row groups are merged once the partner's pull ends"


def test_no_direct_identifier_reaches_any_table(world: Demo, run_settings: Settings) -> None:
    _ingest_all(world, run_settings)
    planted = ["@beispiel.de", "Mustermann", "ee.kobo.lu"]
    assert any(p in str(s) for s in world.served["stadt-lu"][0].values() for p in planted)
    con = duckdb.connect(str(run_settings.db_path), read_only=True)
    columns = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where (data_type in ('VARCHAR', 'JSON') or data_type like '%[]') and database_name = current_database()"
    ).fetchall()
    assert len(columns) > 20
    for schema, table, column in columns:
        for needle in planted:
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where "{column}"::varchar like ?', [f"%{needle}%"]
            ).fetchone()[0]
            assert hits == 0, f"{needle} found in {schema}.{table}.{column}"
    con.close()


def test_respondent_key_is_a_keyed_hmac_of_partner_and_response(world: Demo, run_settings: Settings) -> None:
    ingest_partner(Context(run_settings), "caritas-lu", "run-1")
    key = os.environ[run_settings.respondent_key_env].encode()
    rows = query(
        run_settings,
        "select s.source_id, r.respondent_key from core.responses r join staging.responses s using (record_id)",
    )
    assert rows
    for source_id, respondent_key in rows:
        assert respondent_key == hmac.new(key, f"caritas-lu:{source_id}".encode(), hashlib.sha256).hexdigest()


def test_a_failing_partner_is_recorded_with_its_reason(world: Demo, run_settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("DEMO_TOKEN_JOBCENTER_LU", "not-the-token")
    with pytest.raises(PartnerError, match="partner jobcenter-lu"):
        ingest_partner(Context(run_settings), "jobcenter-lu", "run-1")
    status, error, fetched = query(run_settings, "select status, error, fetched from ops.runs")[0]
    assert status == "failed" and fetched == 0
    assert "partner jobcenter-lu" in error and "credentials rejected" in error and "not-the-token" not in error


def test_a_partner_whose_secret_is_gone_is_recorded_failed_and_the_next_loads(
    world: Demo, run_settings: Settings, monkeypatch
) -> None:
    """The connector opens (and reads the secret) after the run is on the record: a secret removed from the
    environment fails that partner's run with a reason naming the variable, and the next partner loads."""
    monkeypatch.delenv("DEMO_TOKEN_JOBCENTER_LU")
    ctx = Context(run_settings)
    with pytest.raises(ConfigError, match="DEMO_TOKEN_JOBCENTER_LU is not set"):
        ingest_partner(ctx, "jobcenter-lu", "run-1")
    loaded = ingest_partner(ctx, "hwg-lu", "run-1")
    rows = query(run_settings, "select partner_id, status, error, finished_at is not null from ops.runs order by 1")
    assert [(partner, status, done) for partner, status, _, done in rows] == [
        ("hwg-lu", "ok", True),
        ("jobcenter-lu", "failed", True),
    ]
    assert "DEMO_TOKEN_JOBCENTER_LU is not set" in rows[1][2]
    assert loaded.inserted + loaded.quarantined == len(world.served["hwg-lu"])


def test_migrations_are_recorded_and_applied_once(settings: Settings, tmp_path) -> None:
    con = db.connect(settings.db_path, settings.sql_dir, settings.duckdb_memory_limit)
    applied = con.execute("select name from ops.migrations order by version").fetchall()
    assert [a[0][:3] for a in applied] == sorted(p.name[:3] for p in (settings.sql_dir / "migrations").glob("*.sql"))
    assert db.migrate(con, settings.sql_dir / "migrations") == []
    con.close()


def test_a_migration_changed_after_it_was_applied_is_refused(settings: Settings, tmp_path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_x.sql").write_text("create table ops.x (a int);")
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    assert db.migrate(con, migrations) == ["001_x.sql"]
    (migrations / "001_x.sql").write_text("create table ops.x (a int, b int);")
    with pytest.raises(Exception, match="001_x.sql changed after it was applied"):
        db.migrate(con, migrations)
    con.close()


def test_one_column_per_option_joins_into_one_multiple_choice_answer(
    settings: Settings, codebook, tmp_path, monkeypatch
) -> None:
    """A form with a yes/no column per option (as LimeSurvey and ODK's split export have) maps via ITEM=option."""
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    hwg = next(p for p in data["partners"] if p["id"] == "hwg-lu")
    multi = next(i for i in codebook.items if i.type == "multi" and i.field)
    del hwg["mapping"][multi.code]
    hwg["mapping"].update({f"{multi.code}_{o.code}": f"{multi.code}={o.code}" for o in multi.options})
    data["partners"] = [hwg]
    source = tmp_path / "partners.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with demo.running(settings, source=source) as world:
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        row = world.served["hwg-lu"][-1]
        assert any(k.startswith(f"{multi.code}_") for k in row), "the option columns are served"
        run = ingest_partner(Context.from_environment(), "hwg-lu", "run-1")
        ticked = query(
            Settings(),
            "select s.source_id, string_agg(a.answer_code, ' ' order by a.answer_code) from core.answers a "
            "join core.responses r using (respondent_key) join staging.responses s on s.record_id = r.record_id "
            "where a.item_code = ? group by s.source_id",
            [multi.code],
        )
    expected = {
        str(r.id): " ".join(sorted(r.answers[multi.code].split()))
        for r in world.generated["hwg-lu"]
        if not r.invalid and multi.code in r.answers
    }
    assert run.quarantined == sum(r.invalid for r in world.generated["hwg-lu"])
    assert dict(ticked) == expected


def test_a_reader_holding_the_working_file_gets_a_message_that_points_to_the_analyst_file(
    world: Demo, run_settings: Settings
) -> None:
    """DuckDB admits one process per file: someone who opened the working file (read-only or not) blocks every
    load. The error says who and where analysts read instead, not only DuckDB's lock message."""
    ingest_partner(Context(run_settings), "hwg-lu", "run-1")
    script = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print('open', flush=True); time.sleep(60)"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", script, str(run_settings.db_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        with pytest.raises(WorkingFileBusy) as raised:
            ingest_partner(Context(run_settings), "hwg-lu", "run-2")
    finally:
        reader.kill()
        reader.wait()
    said = str(raised.value)
    assert str(run_settings.db_path) in said and str(run_settings.analyst_db_path) in said
    assert f"PID {reader.pid}" in said


def test_one_bad_multiple_choice_answer_quarantines_only_its_response(
    settings: Settings, tmp_path, monkeypatch
) -> None:
    """LimeSurvey pages of 25 responses: record ids page:1 … page:25 sort as text otherwise than as rows, and a
    multiple-choice check that grouped by them charged one bad answer to every response of the batch."""
    with partner_world(settings, tmp_path, monkeypatch, "stadt-bildung-lu") as world:
        survey_id = world.registry.partner("stadt-bildung-lu").connector.survey_id
        served = world.served["stadt-bildung-lu"]
        valid = [r for r, g in zip(served, world.generated["stadt-bildung-lu"], strict=True) if not g.invalid]
        bad = {**valid[11], "HF2Q07[SQ002]": "vielleicht"}
        world.services["limesurvey"].emulator.store(survey_id, [bad])
        run = ingest_partner(Context.from_environment(), "stadt-bildung-lu", "run-1")
        rejected = query(
            Settings(), "select distinct source_id, field, value from ops.quarantine where field = ?", ["HF2_07"]
        )
    invalid = sum(g.invalid for g in world.generated["stadt-bildung-lu"])
    assert len(served) > 25
    assert [(source_id, field) for source_id, field, _ in rejected] == [(str(bad["id"]), "HF2_07")]
    assert "vielleicht" in rejected[0][2].split()
    assert run.quarantined == invalid + 1
    assert run.inserted == len(served) - invalid - 1


def _ticked(settings: Settings, item_code: str) -> dict[str, str]:
    """source id → the options core holds for a multiple choice, sorted and space-separated ("" for none)."""
    rows = query(
        settings,
        "select s.source_id, coalesce(string_agg(a.answer_code, ' ' order by a.answer_code), '') from core.answers a "
        "join core.responses r using (respondent_key) join staging.responses s on s.record_id = r.record_id "
        "where a.item_code = ? group by s.source_id",
        [item_code],
    )
    return dict(rows)


@pytest.mark.parametrize(("partner_id", "id_field"), [("awo-lu", "__id"), ("stadt-bildung-lu", "id")])
def test_multiple_choice_as_the_tools_send_it_loads_option_by_option(
    settings: Settings, tmp_path, monkeypatch, codebook, partner_id: str, id_field: str
) -> None:
    """ODK: a select_multiple's choice names in one field ("englisch other"), recoded option by option, and the
    or_other text field; LimeSurvey: a Y/"" column per option and the [other] text column. Both tick sonstiges."""
    with partner_world(settings, tmp_path, monkeypatch, partner_id) as world:
        run = ingest_partner(Context.from_environment(), partner_id, "run-1")
        generated = world.generated[partner_id]
        served = {r.id: s for r, s in zip(generated, world.served[partner_id], strict=True)}
        multis = [i.code for i in codebook.items if i.type == "multi"]
        got = {item: _ticked(Settings(), item) for item in multis}
    assert run.quarantined == sum(r.invalid for r in generated)
    other = [r for r in generated if not r.invalid and "sonstiges" in r.answers.get("HF3_SPR_04", "").split()]
    assert other, "the demo ticks sonstiges"
    for item in multis:
        expected = {
            str(served[r.id][id_field]): " ".join(sorted(r.answers[item].split()))
            for r in generated
            if not r.invalid and item in r.answers
        }
        assert got[item] == expected, item


def test_limesurvey_multiple_choice_shown_and_not_ticked_is_answered_not_shown_is_not(
    settings: Settings, tmp_path, monkeypatch, codebook
) -> None:
    """LimeSurvey writes "" into the option columns of a question shown and left unticked, NULL into those of a
    question never shown: the first respondent answered (no option), the second did not."""
    partner_id = "stadt-bildung-lu"
    with partner_world(settings, tmp_path, monkeypatch, partner_id) as world:
        partner = world.registry.partner(partner_id)
        columns = [code for code, target in partner.mapping.items() if target.startswith("HF2_07=")]
        valid = [s for r, s in zip(world.generated[partner_id], world.served[partner_id], strict=True) if not r.invalid]
        shown = {**valid[0], **{c: "" for c in columns}}
        hidden = {**valid[1], **{c: None for c in columns}}
        world.services["limesurvey"].emulator.store(partner.connector.survey_id, [shown, hidden])
        ingest_partner(Context.from_environment(), partner_id, "run-1")
        build_marts(Context.from_environment())
        ticked = _ticked(Settings(), "HF2_07")
        answered = query(
            Settings(),
            "select sum(n_answered) from marts.item_results where item_code = 'HF2_07' and org_type = 'insgesamt'",
        )
    assert ticked[str(shown["id"])] == ""
    assert str(hidden["id"]) not in ticked
    assert answered == [(len(ticked),)], "the marts count the respondent who was shown it and ticked nothing"
    assert len(columns) == 6 and any(c.endswith("[other]") for c in columns)
