"""The KoboToolbox connector against the emulator over loopback HTTP."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.context import Context
from pipeline.errors import PartnerError, PartnerNotConnected, PartnerUnreachable
from pipeline.extract.kobo import KoboConnector, KoboSettings
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from pipeline_testkit.demo import Demo
from pipeline_testkit.emulators.kobo import KoboEmulator
from tests.conftest import SHARED, query


def _connector(world: Demo, partner_id: str, settings: Settings, token: str | None = None) -> KoboConnector:
    partner = world.registry.partner(partner_id)
    config = partner.connector.model_copy(update={"base_url": world.services["kobo"].url})
    return config.open(partner.id, token or os.environ[partner.secret_env], settings, partner.identifier_fields)


def test_full_pull_follows_next_page_by_page(world: Demo, run_settings: Settings) -> None:
    pages = list(_connector(world, "stadt-lu", run_settings).pull(None))
    served = world.served["stadt-lu"]
    assert len(pages) == -(-len(served) // 50)  # page_size 50 in the registry
    ids = [i for p in pages for i in p.records.column("source_id").to_pylist()]
    assert sorted(ids, key=int) == [str(s["_id"]) for s in served]
    queries = [parse_qs(urlsplit(path).query).get("query", ["{}"])[0]
               for _, path in world.services["kobo"].emulator.requests]  # fmt: skip
    last_ids = [int(ids[n * 50 - 1]) for n in (1, 2, 3)]
    assert [json.loads(q) for q in queries] == [{}] + [{"_id": {"$gt": last}} for last in last_ids]
    assert pages[-1].cursor == max(s["_submission_time"] for s in served)


def test_incremental_pull_fetches_only_what_was_submitted_since_the_cursor(world: Demo, run_settings: Settings) -> None:
    connector = _connector(world, "caritas-lu", run_settings)
    cursor = list(connector.pull(None))[-1].cursor
    latest = datetime.fromisoformat(cursor)
    new = []
    for n, template in enumerate(world.served["caritas-lu"][-3:], start=1):
        new.append({**template, "_id": 90_000 + n, "_submission_time": (latest + timedelta(minutes=n)).isoformat()})
    world.services["kobo"].emulator.add_submissions(world.registry.partner("caritas-lu").connector.asset_uid, new)

    pages = list(connector.pull(cursor))
    ids = [i for p in pages for i in p.records.column("source_id").to_pylist()]
    at_cursor = [str(s["_id"]) for s in world.served["caritas-lu"] if s["_submission_time"] == cursor]
    assert sorted(ids) == sorted(at_cursor + ["90001", "90002", "90003"])
    assert pages[-1].cursor == new[-1]["_submission_time"]


def test_a_submission_deleted_between_page_reads_shifts_no_other_out_of_reach(
    world: Demo, run_settings: Settings
) -> None:
    """start/limit paging skipped the first submission of page two when one of page one was deleted meanwhile."""
    uid = world.registry.partner("stadt-lu").connector.asset_uid
    emulator = world.services["kobo"].emulator
    served = sorted(world.served["stadt-lu"], key=lambda s: s["_id"])
    deleted = served[10]["_id"]
    emulator.between_pages.append(lambda: emulator.delete(uid, deleted))

    pages = list(_connector(world, "stadt-lu", run_settings).pull(None))

    ids = sorted(int(i) for p in pages for i in p.records.column("source_id").to_pylist())
    assert ids == [s["_id"] for s in served]  # the deleted one was read on page one, every other one too
    assert [p.cursor is None for p in pages] == [True] * (len(pages) - 1) + [False]


def test_a_future_or_malformed_submission_time_never_becomes_the_cursor(world: Demo, run_settings: Settings) -> None:
    """Both are quarantined; as the cursor they hid every later submission (the string maximum of all times)."""
    uid = world.registry.partner("hwg-lu").connector.asset_uid
    emulator = world.services["kobo"].emulator
    template = max(world.served["hwg-lu"], key=lambda s: s["_submission_time"])
    odd = [{**template, "_id": 80_001, "_submission_time": "2099-01-01T00:00:00"},
           {**template, "_id": 80_002, "_submission_time": "not-a-date"}]  # fmt: skip
    emulator.add_submissions(uid, odd)
    first = ingest_partner(Context(run_settings), "hwg-lu", "run-1")
    assert first.quarantined >= 2
    [(cursor,)] = query(run_settings, "select cursor from ops.cursors where partner_id = 'hwg-lu'")
    assert cursor == template["_submission_time"]

    recent = (datetime.now(UTC) - timedelta(minutes=5)).replace(tzinfo=None).isoformat(timespec="seconds")
    emulator.add_submissions(uid, [{**template, "_id": 80_003, "_submission_time": recent}])
    ingest_partner(Context(run_settings), "hwg-lu", "run-2")
    fetched = query(run_settings, "select source_id from raw.records where source_id = '80003'")
    assert fetched == [("80003",)]
    [(cursor,)] = query(run_settings, "select cursor from ops.cursors where partner_id = 'hwg-lu'")
    assert cursor == recent


def test_retry_after_is_honoured_before_trying_again(world: Demo, run_settings: Settings) -> None:
    world.services["kobo"].emulator.faults.add(2, status=503, retry_after=1)
    pages = list(_connector(world, "hwg-lu", run_settings).pull(None))
    assert sum(p.records.num_rows for p in pages) == len(world.served["hwg-lu"])
    times = [t for t, _ in world.services["kobo"].emulator.requests]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0


def test_a_partner_down_for_good_is_unreachable_naming_the_partner(world: Demo, tmp_path) -> None:
    world.services["kobo"].emulator.faults.add(10, status=503, retry_after=0)
    with pytest.raises(PartnerUnreachable, match=r"partner hwg-lu: GET .* answered HTTP 503 after retries"):
        list(_connector(world, "hwg-lu", Settings(data_dir=tmp_path, http_retries=2)).pull(None))
    assert len(world.services["kobo"].emulator.requests) == 3


def test_a_rejected_token_fails_at_once_naming_the_partner(world: Demo, run_settings: Settings) -> None:
    with pytest.raises(PartnerError, match="partner jobcenter-lu: .*HTTP 401: credentials rejected") as excinfo:
        list(_connector(world, "jobcenter-lu", run_settings, token="wrong").pull(None))
    assert not isinstance(excinfo.value, PartnerUnreachable)
    assert len(world.services["kobo"].emulator.requests) == 1
    assert "wrong" not in str(excinfo.value)


def test_a_host_refusing_the_connection_is_not_connected_naming_what_to_check(world: Demo, tmp_path) -> None:
    partner = world.registry.partner("hwg-lu")
    config = KoboSettings(kind="kobo", base_url="http://127.0.0.1:9", asset_uid=partner.connector.asset_uid)
    connector = config.open(partner.id, "t", Settings(data_dir=tmp_path, http_retries=1), ())
    with pytest.raises(PartnerNotConnected, match="partner hwg-lu: GET http://127.0.0.1:9/api/v2/assets/.* refused"):
        list(connector.pull(None))


def test_real_kobo_payload_keeps_group_paths_and_drops_identifiers(tmp_path) -> None:
    """Submissions recorded from kobo.unhcr.org (shared/payloads): names are dropped, group paths kept."""
    recorded = json.loads(
        (SHARED / "payloads/kobotoolbox/v2_data_group_paths_renamed_between_versions.json").read_text()
    )
    emulator = KoboEmulator()
    emulator.add_asset("aDMHypRASH2EuJdvKMx5Mi", "tok", recorded["results"])
    server = emulator.serve()
    try:
        config = KoboSettings(kind="kobo", base_url=server.url, asset_uid="aDMHypRASH2EuJdvKMx5Mi", page_size=4)
        pages = list(config.open("unhcr-sample", "tok", Settings(data_dir=tmp_path), ()).pull(None))
    finally:
        server.stop()
    assert [p.records.num_rows for p in pages] == [4, 2]
    records = [json.loads(r) for p in pages for r in p.records.column("record").to_pylist()]
    assert [r["_id"] for r in records] == [s["_id"] for s in recorded["results"]]
    assert all("full_name" not in r and "_submitted_by" not in r and "_geolocation" not in r for r in records)
    assert records[0]["v1/hh_sex"] == "1" and records[3]["v2/hh_sex"] == "1" and records[5]["v0/hh_sex"] == "1"
    assert records[2]["pet_type"] == "5 98"
    assert pages[0].records.column("submitted_at").to_pylist()[0] == "2023-05-18T14:48:51"
    assert any(b"Ahmadou" in p.body for p in pages), "the body stays as received; only records are cleaned"
