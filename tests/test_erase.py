"""`pipeline erase`: one respondent removed from every table and every byte of the file, and kept out afterwards."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from pathlib import Path

import duckdb
import pytest

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_flows import cli
from tests.conftest import found_in_file, partner_world, query

PARTNER = "caritas-lu"
SOURCE_ID = 90_817_263_545
ANSWER = "Unser Team wünscht sich Supervision auf Farsi, bitte bald 🌻"


def _answered(settings: Settings, wave: str) -> int:
    return query(
        settings,
        "select n_answered from marts.item_results where wave = ? and org_type = 'wohlfahrt' and item_code = 'HF1_01'",
        [wave],
    )[0][0]


def test_erase_removes_the_respondent_everywhere_and_keeps_it_out(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uncompressed_storage: None
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        kobo = world.services["kobo"].emulator
        uid = world.registry.partner(PARTNER).connector.asset_uid
        latest = max(world.served[PARTNER], key=lambda s: s["_submission_time"])
        instance = str(uuid.uuid4())
        first = {**latest, "_id": SOURCE_ID, "_uuid": instance, "meta/instanceID": f"uuid:{instance}"}
        first.update({"hf1/q01": "4", "hf2/q08": ANSWER})
        edited = {**first, "hf1/q01": "9"}  # a later version the contract rejects: it goes to quarantine
        kobo.add_submissions(uid, [first])
        ingest_partner(Context.from_environment(), PARTNER, "run-1")
        kobo.add_submissions(uid, [edited])
        assert ingest_partner(Context.from_environment(), PARTNER, "run-2").quarantined == 1
        build_marts(Context.from_environment())
        wave = query(Settings(), "select wave from core.responses order by submitted_at desc limit 1")[0][0]
        answered = _answered(Settings(), wave)
        needles = [str(SOURCE_ID), instance, ANSWER]
        before = found_in_file(Settings(), needles)
        assert set(before) == set(needles), "the search sees the respondent before the erasure"
        assert {"raw.records.source_id", "staging.responses.source_id", "ops.quarantine.source_id"} <= set(
            before[str(SOURCE_ID)]
        )

        assert (
            cli.main(["erase", "--partner", PARTNER, "--response", str(SOURCE_ID), "--by", "Datenschutz", "--yes"]) == 0
        )

        assert found_in_file(Settings(), needles) == {}
        assert _answered(Settings(), wave) == answered - 1, "the marts no longer count the respondent"
        key = hmac.new(
            os.environ[Settings().respondent_key_env].encode(), f"{PARTNER}:{SOURCE_ID}".encode(), hashlib.sha256
        ).hexdigest()
        assert query(Settings(), "select count(*) from core.responses where respondent_key = ?", [key]) == [(0,)]
        erased = query(Settings(), "select respondent_key, partner_id, erased_by, versions_removed from ops.erased")
        assert erased == [(key, PARTNER, "Datenschutz", 2)]

        # The partner still serves both versions: a pull of everything leaves them out, counted as duplicates.
        con = duckdb.connect(str(Settings().db_path))
        con.execute("delete from ops.cursors")
        con.close()
        again = ingest_partner(Context.from_environment(), PARTNER, "run-3")
        served = len(kobo.assets[uid].submissions)
        assert again.fetched == served and again.inserted == again.updated == 0
        assert again.duplicates == 2 and again.unchanged == served - 2
        assert again.fetched == again.inserted + again.updated + again.unchanged + again.quarantined + again.duplicates
        assert query(Settings(), "select refused from ops.erased") == [(2,)]
        build_marts(Context.from_environment())
        assert _answered(Settings(), wave) == answered - 1
        assert found_in_file(Settings(), needles) == {}


def test_erasing_an_id_nothing_is_stored_under_still_keeps_it_out(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """An erasure request can arrive before the response was ever pulled: recorded with --force, the first pull
    must not load it."""
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        source_id = str(world.served[PARTNER][0]["_id"])
        assert cli.main(["erase", "--partner", PARTNER, "--response", source_id, "--force", "--yes"]) == 0
        assert "nothing was stored under that response id" in capsys.readouterr().out
        run = ingest_partner(Context.from_environment(), PARTNER, "run-1")
    assert run.duplicates == 1 and run.fetched == len(world.served[PARTNER])
    assert query(Settings(), "select count(*) from raw.records where source_id = ?", [source_id]) == [(0,)]
