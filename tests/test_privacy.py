"""No direct identifier a partner's tool sends reaches the DuckDB file or the logs, whatever the tool."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipeline.context import Context
from pipeline.errors import PayloadError
from pipeline.extract.json_records import page_records
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.emulators.synthetic import FREE_TEXTS
from tests.conftest import found_in_file

# Planted into one more KoboToolbox submission, under keys as Kobo and ODK Collect forms name them.
PLANTED_KOBO = {
    "_submitted_by": "erika_mustermann_kobo",
    "deviceid": "collect:Zq8Xw3Lp0Ab7Kd2M",
    "meta/instanceName": "Erika Pflanzmann – Beratungsgespräch",
    "kontakt/email": "erika.pflanzmann@beispiel.de",
    "angaben/ansprechperson": "Erika Pflanzmann-Özdemir",
    "angaben/telefon": "+49 621 5559876",
    "username": "epflanzmann77",
    "simserial": "89490200001234567891",
    "ip_address": "203.0.113.77",
    "token": "tok_9f8e7d6c5b4a3f2e",
}


def _identifiers_served(world: demo.Demo) -> set[str]:
    """The identifiers each emulator put into its tool's payloads: every respondent's contact e-mail and name,
    Kobo's and ODK's device ids, ODK's submitter name, LimeSurvey's participant token and IP address."""
    found = {value for responses in world.generated.values() for r in responses for value in r.contact.values()}
    for rows in world.served.values():
        for row in rows:
            flat = dict(_leaves(row))
            for key in ("deviceid", "token", "ipaddr", "__system/submitterName"):
                if flat.get(key):
                    found.add(str(flat[key]))
    return found


def _leaves(row: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in row.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value


@pytest.fixture
def debug_log(tmp_path: Path) -> Iterator[Path]:
    """Every log record of every library, down to DEBUG, written to a file while the test runs."""
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def test_planted_identifiers_reach_no_table_file_or_log(
    world: demo.Demo, run_settings: Settings, uncompressed_storage: None, debug_log: Path
) -> None:
    kobo = world.services["kobo"]
    base = kobo.served["stadt-lu"][-1]
    planted = {**base, **PLANTED_KOBO, "_id": 880_001, "_uuid": str(uuid.uuid4())}
    kobo.emulator.add_submissions(world.registry.partner("stadt-lu").connector.asset_uid, [planted])
    needles = _identifiers_served(world) | set(PLANTED_KOBO.values())
    assert {"erika.pflanzmann@beispiel.de", "Erika Mustermann-1"} <= needles and len(needles) > 500

    runs = [ingest_partner(Context(run_settings), p.id, "run-1") for p in world.registry.partners]

    assert all(run.status == "ok" and run.inserted > 0 for run in runs)
    log = debug_log.read_text(encoding="utf-8")
    assert "127.0.0.1" in log, "the log captured the pulls (urllib3 at DEBUG)"
    assert [needle for needle in needles if needle in log] == []
    # The search sees what is stored: the free texts respondents wrote are there, so the identifiers would be.
    seen = found_in_file(run_settings, [FREE_TEXTS[0]])[FREE_TEXTS[0]]
    assert {"raw.records.record", "core.answers.answer_text", "file bytes"} <= set(seen)
    assert found_in_file(run_settings, sorted(needles)) == {}


def test_a_page_that_is_not_json_is_reported_without_its_content() -> None:
    """DuckDB quotes the start of malformed JSON in its error, which would carry it into ops.runs and the logs."""
    body = b'{"results": [{"kontakt/email": "erika.pflanzmann@beispiel.de", "hf1/q01": tru}]}'
    with pytest.raises(PayloadError) as raised:
        page_records(duckdb.connect(), "stadt-lu", body, "$.results[*]", "_id", "_submission_time", ())
    assert "Malformed JSON" in str(raised.value) and "beispiel.de" not in str(raised.value)


def test_identifiers_inside_repeat_groups_are_removed_and_the_rest_kept(
    world: demo.Demo, run_settings: Settings, uncompressed_storage: None
) -> None:
    """KoboToolbox sends a repeat group as an array of objects whose keys are full paths (as kobo.unhcr.org does:
    `demo: [{"demo/name": ..., "demo/hobbies_list": [{"demo/hobbies_list/hobbies": ...}]}]`). Identifiers in
    them, built-in names and the partner's identifier_fields alike, are removed at any depth."""
    partner = world.registry.partner("stadt-lu")
    assert "angaben/ansprechperson" in partner.identifier_fields
    kobo = world.services["kobo"]
    repeats = {
        "demo": [
            {
                "demo/name": "Ahmad Wiederholer",
                "demo/age": "30",
                "demo/hobbies_list_count": "1",
                "demo/hobbies_list": [{"demo/hobbies_list/hobbies": "Karaoke", "demo/hobbies_list/email": "a@w.de"}],
            },
            {"demo/name": "Myriam Wiederholer", "demo/age": "20"},
        ],
        "angaben": [{"angaben/ansprechperson": "Erika Wiederholer", "angaben/funktion": "Leitung"}],
    }
    planted = {**kobo.served[partner.id][-1], **repeats, "_id": 880_002, "_uuid": str(uuid.uuid4())}
    kobo.emulator.add_submissions(partner.connector.asset_uid, [planted])

    run = ingest_partner(Context(run_settings), partner.id, "run-1")

    assert run.status == "ok" and run.inserted > 0
    needles = ["Ahmad Wiederholer", "Myriam Wiederholer", "Erika Wiederholer", "a@w.de"]
    assert found_in_file(run_settings, needles) == {}
    con = duckdb.connect(str(run_settings.db_path), read_only=True)
    try:
        (kept,) = con.execute("select record from raw.records where source_id = '880002'").fetchone()
    finally:
        con.close()
    assert '"demo/hobbies_list/hobbies":"Karaoke"' in kept and '"angaben/funktion":"Leitung"' in kept
