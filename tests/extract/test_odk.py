"""The ODK Central connector against the Central emulator over loopback HTTP, and into a real DuckDB file."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from pipeline.context import Context
from pipeline.errors import PartnerError, PartnerNotConnected, PartnerUnreachable
from pipeline.extract.odk import OdkConnector, OdkSettings
from pipeline.load.ingest import ingest_partner
from pipeline.maintenance.rebuild import rebuild
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.emulators.odk import (
    AUTHENTICATION_FAILED,
    FILTER_FIELDS,
    ORDERBY_WITH_SKIPTOKEN,
    OdkEmulator,
    Problem,
    odata_time,
)
from tests.conftest import SHARED, partner_world, query

PARTNER = "awo-lu"
PAYLOADS = SHARED / "payloads" / "odk_central"


@pytest.fixture
def awo(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[demo.Demo]:
    """The demo world with the AWO partner only, served by the ODK Central emulator, the environment set."""
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        yield world


def _emulator(world: demo.Demo) -> OdkEmulator:
    return world.services["odk"].emulator  # type: ignore[return-value]


def _connector(
    world: demo.Demo, settings: Settings | None = None, password: str | None = None, **config
) -> OdkConnector:
    partner = world.registry.partner(PARTNER)
    settings = settings or Settings()
    changed = partner.connector.model_copy(update={"base_url": world.services["odk"].url, **config})
    return changed.open(partner.id, password or os.environ[partner.secret_env], settings, partner.identifier_fields)


def _ids(pages) -> list[str]:
    return [i for page in pages for i in page.records.column("source_id").to_pylist()]


def _records(pages) -> list[dict]:
    return [json.loads(r) for page in pages for r in page.records.column("record").to_pylist()]


def _feed_requests(emulator: OdkEmulator) -> list[str]:
    return [path for _, method, path in emulator.requests if method == "GET"]


def _form(world: demo.Demo) -> tuple[int, str]:
    config = world.registry.partner(PARTNER).connector
    return config.project_id, config.form_id


def test_full_pull_follows_next_links_and_hands_over_the_cursor_with_the_last_page_only(awo: demo.Demo) -> None:
    pages = list(_connector(awo).pull(None))
    served = awo.served[PARTNER]
    assert [p.records.num_rows for p in pages] == [25, 25, 15]  # page_size 25 in the registry
    assert sorted(_ids(pages)) == sorted(s["__id"] for s in served)
    times = [t for p in pages for t in p.records.column("submitted_at").to_pylist()]
    assert times == sorted(times, reverse=True), "Central lists newest first"
    assert [p.cursor for p in pages] == [None, None, max(s["__system"]["submissionDate"] for s in served)]
    feed = _feed_requests(_emulator(awo))
    assert "%24skiptoken" not in feed[0] and all("%24skiptoken=01" in path for path in feed[1:])
    assert not any("orderby" in path for path in feed)
    methods = [method for _, method, _ in _emulator(awo).requests]
    assert methods == ["POST", "GET", "GET", "GET", "DELETE"], "one session, ended after the pull"
    assert _emulator(awo).sessions == {}


def test_incremental_pull_fetches_only_new_and_edited_submissions(awo: demo.Demo) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    connector = _connector(awo)
    cursor = list(connector.pull(None))[-1].cursor
    served = awo.served[PARTNER]
    now = odata_time(datetime.now(UTC))
    new = []
    for n, template in enumerate(served[:2], start=1):
        row = copy.deepcopy(template)
        row["__id"] = row["meta"]["instanceID"] = f"uuid:00000000-0000-4000-8000-00000000000{n}"
        row["__system"]["submissionDate"] = now
        new.append(row)
    emulator.add_submissions(project, form, new)
    oldest = min(served, key=lambda s: s["__system"]["submissionDate"])
    emulator.edit(project, form, oldest["__id"], {"hf1/q01": "2" if oldest["hf1"].get("q01") != "2" else "3"})

    pages = list(connector.pull(cursor))

    at_cursor = [s["__id"] for s in served if s["__system"]["submissionDate"] == cursor]
    assert sorted(_ids(pages)) == sorted(at_cursor + [r["__id"] for r in new] + [oldest["__id"]])
    first = _feed_requests(emulator)[-len(pages)]
    expected_filter = f"__system/submissionDate ge {cursor} or __system/updatedAt ge {cursor}"
    assert requests.utils.unquote(first.split("%24filter=")[1].split("&")[0]) == expected_filter
    edited = next(r for r in _records(pages) if r["__id"] == oldest["__id"])
    assert edited["__system/updatedAt"] is not None and edited["__system/edits"] == "1"

    again = list(connector.pull(pages[-1].cursor))
    assert set(_ids(again)) <= {r["__id"] for r in new} | {oldest["__id"]}


def test_an_edit_saved_during_the_pull_to_a_submission_already_read_is_seen_next_time(awo: demo.Demo) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    connector = _connector(awo)
    pull = connector.pull(None)
    first = next(pull)
    read, unread = _ids([first])[0], min(awo.served[PARTNER], key=lambda s: s["__system"]["submissionDate"])
    emulator.edit(project, form, read, {"hf7/q01": "ka"})
    time.sleep(0.01)  # Central keeps milliseconds: the second edit must come a millisecond later to be later
    emulator.edit(project, form, unread["__id"], {"hf7/q01": "ka"})
    cursor = list(pull)[-1].cursor

    assert read in _ids(connector.pull(cursor)), "the cursor stays at the pull's start, not at the later edit"


def test_a_wrong_password_fails_at_login_quoting_centrals_problem(awo: demo.Demo) -> None:
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(awo, password="falsch-geraten").pull(None))
    assert not isinstance(excinfo.value, PartnerUnreachable)
    assert str(excinfo.value) == (
        f"partner awo-lu: POST {awo.services['odk'].url}/v1/sessions answered HTTP 401: ODK Central 401.2 "
        '"Could not authenticate with the provided credentials."; check the password in the partner\'s secret '
        "and connector.email (datenabruf@awo-lu.de)"
    )
    assert [method for _, method, _ in _emulator(awo).requests] == ["POST"]


def test_an_expired_session_is_renewed_once_during_the_pull(awo: demo.Demo) -> None:
    pull = _connector(awo).pull(None)
    pages = [next(pull)]
    _emulator(awo).expire_sessions()
    pages += list(pull)
    assert len(_ids(pages)) == len(awo.served[PARTNER])
    logins = [path for _, method, path in _emulator(awo).requests if method == "POST"]
    assert logins == ["/v1/sessions", "/v1/sessions"]


def test_a_session_refused_again_after_renewal_fails_naming_the_account(awo: demo.Demo) -> None:
    _emulator(awo).problems.extend([AUTHENTICATION_FAILED, AUTHENTICATION_FAILED])
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(awo).pull(None))
    assert str(excinfo.value).endswith(
        'answered HTTP 401: ODK Central 401.2 "Could not authenticate with the provided credentials."; the server '
        "refused a fresh session too; check that the account datenabruf@awo-lu.de is still active"
    )
    assert [method for _, method, _ in _emulator(awo).requests] == ["POST", "GET", "POST", "GET", "DELETE"]


def test_an_account_without_a_role_on_the_form_is_told_so(awo: demo.Demo) -> None:
    _emulator(awo).add_user("praktikum@awo-lu.de", "sommer2026")
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(awo, password="sommer2026", email="praktikum@awo-lu.de").pull(None))
    assert str(excinfo.value) == (
        f"partner awo-lu: GET {awo.services['odk'].url}/v1/projects/3/forms/chancencheck_awo.svc/Submissions"
        '?%24top=25&%24count=true answered HTTP 403: ODK Central 403.1 "The authentication you provided does not '
        'have rights to perform that action."; the account praktikum@awo-lu.de may not read form '
        "'chancencheck_awo' of project 3: give it a role there"
    )
    assert _emulator(awo).sessions == {}, "the session is ended after a failed pull too"


def test_an_unknown_form_names_project_and_form(awo: demo.Demo) -> None:
    with pytest.raises(PartnerError, match=r"HTTP 404: ODK Central 404\.1 \"Could not find the resource you were "):
        list(_connector(awo, form_id="chancencheck_awo_2027").pull(None))
    with pytest.raises(PartnerError, match=r"check connector.project_id \(4\) and connector.form_id \('chancen"):
        list(_connector(awo, project_id=4).pull(None))


def test_a_server_that_cannot_filter_on_updated_at_fails_with_its_501_5(awo: demo.Demo) -> None:
    _emulator(awo).filter_fields = frozenset({"__system/submissionDate", "__system/submitterId"})
    cursor = "2026-06-01T00:00:00.000Z"
    expression = f"__system/submissionDate ge {cursor} or __system/updatedAt ge {cursor}"
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(awo).pull(cursor))
    assert not isinstance(excinfo.value, PartnerUnreachable)
    at = expression.index("__system/updatedAt")
    assert (
        f'answered HTTP 501: ODK Central 501.5 "The given OData filter expression references fields not supported '
        f'by this server: __system/updatedAt at {at}"; this ODK Central cannot answer what the connector asks '
        "($skiptoken paging, $filter on __system/submissionDate and __system/updatedAt); ask its administrator to "
        "update it"
    ) in str(excinfo.value)


def test_orderby_with_skiptoken_is_refused_as_central_does_and_quoted_to_the_operator(awo: demo.Demo) -> None:
    url = f"{awo.services['odk'].url}/v1/projects/3/forms/chancencheck_awo.svc/Submissions"
    token = requests.post(
        f"{awo.services['odk'].url}/v1/sessions",
        json={"email": "datenabruf@awo-lu.de", "password": os.environ["DEMO_TOKEN_AWO_LU"]},
        timeout=5,
    ).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    first = requests.get(url, params={"$top": "5", "$orderby": "__system/submissionDate asc"}, headers=auth, timeout=5)
    assert first.status_code == 200, "an order alone is fine, for the first page"
    refused = requests.get(first.json()["@odata.nextLink"], headers=auth, timeout=5)
    assert refused.status_code == 501
    recorded = json.loads((PAYLOADS / "error_501_1_orderby_with_skiptoken.json").read_text())
    assert refused.json() == {**recorded, "details": {"feature": "using $orderby and $skiptoken together"}}
    _emulator(awo).filter_fields = FILTER_FIELDS - {"__system/reviewState"}  # a Central before review states
    unsupported = requests.get(url, params={"$filter": "__system/reviewState eq 'hasIssues'"}, headers=auth, timeout=5)
    recorded = json.loads((PAYLOADS / "error_501_5_unsupported_filter_field.json").read_text())
    assert unsupported.json() == {**recorded, "details": {"at": 0, "text": "__system/reviewState"}}

    _emulator(awo).problems.append(ORDERBY_WITH_SKIPTOKEN)
    with pytest.raises(PartnerError, match=r'HTTP 501: ODK Central 501\.1 "The requested feature using \$orderby and '):
        list(_connector(awo).pull(None))


def _recorded_rows() -> list[dict]:
    """Central's recorded rows, with the submission dates the test harness strips put back (rone's is recorded;
    the others were submitted during that test run)."""
    rows = json.loads((PAYLOADS / "odata_submissions_toplevel_rows.json").read_text())["value"]
    full = json.loads((PAYLOADS / "odata_submissions_filter_submissionDate_lt_2015_full_system.json").read_text())
    dates = {
        "rone": full["value"][0]["__system"]["submissionDate"],
        "rtwo": "2018-04-02T09:14:05.311Z",
        "rthree": "2018-04-02T09:14:07.802Z",
    }
    return [{**row, "__system": {"submissionDate": dates[row["__id"]], **row["__system"]}} for row in rows]


def _without_submission_date(rows: list[dict]) -> list[dict]:
    return [{**r, "__system": {k: v for k, v in r["__system"].items() if k != "submissionDate"}} for r in rows]


def test_emulator_pages_and_filters_centrals_recorded_rows_as_central_did() -> None:
    emulator = OdkEmulator(domain="http://localhost:8989")
    emulator.add_user("alice@getodk.org", "alice")
    emulator.add_form(1, "withrepeat", {"alice@getodk.org"}, list(reversed(_recorded_rows())))
    server = emulator.serve()
    try:
        token = requests.post(
            f"{server.url}/v1/sessions", json={"email": "alice@getodk.org", "password": "alice"}, timeout=5
        ).json()["token"]

        def get(query: str) -> dict:
            return requests.get(
                f"{server.url}/v1/projects/1/forms/withrepeat.svc/Submissions?{query}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=5,
            ).json()

        top1 = get("%24top=1&%24count=true")
        top0 = get("%24top=0&%24count=true")
        before_2015 = get("%24filter=__system/submissionDate%20lt%202015-01-01")
        everything = get("")
    finally:
        server.stop()
    recorded = json.loads((PAYLOADS / "odata_submissions_top1_count_nextlink.json").read_text())
    assert top1["@odata.nextLink"] == recorded["@odata.nextLink"]
    assert (top1["@odata.count"], _without_submission_date(top1["value"])) == (3, recorded["value"])
    assert top0 == json.loads((PAYLOADS / "odata_submissions_top0_count_empty_value.json").read_text())
    full = json.loads((PAYLOADS / "odata_submissions_filter_submissionDate_lt_2015_full_system.json").read_text())
    assert before_2015 == full
    toplevel = json.loads((PAYLOADS / "odata_submissions_toplevel_rows.json").read_text())
    assert _without_submission_date(everything["value"]) == toplevel["value"], "newest first"


def test_real_central_rows_are_flattened_typed_and_stripped_of_identifiers(tmp_path: Path) -> None:
    emulator = OdkEmulator()
    emulator.add_user("alice@getodk.org", "alice")
    emulator.add_form(1, "withrepeat", {"alice@getodk.org"}, _recorded_rows())
    server = emulator.serve()
    try:
        config = OdkSettings(
            kind="odk", base_url=server.url, project_id=1, form_id="withrepeat", email="alice@getodk.org", page_size=2
        )
        connector = config.open("getodk-sample", "alice", Settings(data_dir=tmp_path), ())
        pages = list(connector.pull(None))
    finally:
        server.stop()
    assert [p.records.num_rows for p in pages] == [2, 1]
    records = _records(pages)
    assert records[0] == {
        "__id": "rthree",
        "__system/submissionDate": "2018-04-02T09:14:07.802Z",
        "__system/updatedAt": None,
        "__system/deletedAt": None,
        "__system/attachmentsPresent": "0",
        "__system/attachmentsExpected": "0",
        "__system/status": None,
        "__system/reviewState": None,
        "__system/edits": "0",
        "__system/formVersion": "1.0",
        "meta/instanceID": "rthree",
        "age": "38",
        "children/child@odata.navigationLink": "Submissions('rthree')/children/child",
    }
    assert [r["age"] for r in records] == ["38", "34", "30"]
    assert "children/child@odata.navigationLink" not in records[2], "an empty group vanishes"
    assert "children/child@odata.navigationLink" in connector.metadata_fields
    submitted = pages[0].records.column("submitted_at").to_pylist()
    assert submitted == ["2018-04-02T09:14:07.802Z", "2018-04-02T09:14:05.311Z"]
    assert pages[-1].cursor == "2018-04-02T09:14:07.802Z"
    assert any(b'"Alice"' in p.body for p in pages), "the body stays as received; only records are cleaned"


def test_an_empty_page_in_the_middle_of_a_pull_does_not_end_it(awo: demo.Demo) -> None:
    """It ended the pull and moved the cursor: 40 of 65 submissions missing until the weekly full read."""
    _emulator(awo).empty_pages = 2
    pages = list(_connector(awo).pull(None))
    assert sorted(_ids(pages)) == sorted(s["__id"] for s in awo.served[PARTNER])
    assert len(awo.served[PARTNER]) == 65
    assert [p.records.num_rows for p in pages] == [25, 0, 0, 25, 15]
    assert [p.cursor is None for p in pages] == [True, True, True, True, False]


def test_an_empty_page_after_the_last_row_ends_the_pull_even_if_it_links_on(awo: demo.Demo) -> None:
    _emulator(awo).dangling_next_link = True
    pages = list(_connector(awo).pull(None))
    assert [p.records.num_rows for p in pages] == [25, 25, 15, 0]
    assert len(_feed_requests(_emulator(awo))) == 4
    assert pages[-1].cursor == max(s["__system"]["submissionDate"] for s in awo.served[PARTNER])


def test_a_next_link_to_another_origin_is_refused(awo: demo.Demo) -> None:
    _emulator(awo).domain = "https://central.awo-lu.intern"
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(awo).pull(None))
    assert str(excinfo.value).startswith(
        "partner awo-lu: '@odata.nextLink' leads to another origin (https://central.awo-lu.intern/v1/projects/3/"
    )
    assert str(excinfo.value).endswith("Central builds links from its DOMAIN setting: it must match connector.base_url")
    assert len(_feed_requests(_emulator(awo))) == 1


def test_retry_after_is_honoured_before_trying_again(awo: demo.Demo) -> None:
    _emulator(awo).faults.add(2, status=503, retry_after=1)
    pages = list(_connector(awo).pull(None))
    assert len(_ids(pages)) == len(awo.served[PARTNER])
    times = [t for t, _, _ in _emulator(awo).requests]
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0


def test_a_central_failing_for_good_is_unreachable_quoting_its_problem(awo: demo.Demo, tmp_path: Path) -> None:
    internal = Problem(500, 500.1, "An unknown internal problem has occurred. Please try again later.")
    _emulator(awo).problems.extend([internal] * 5)
    with pytest.raises(PartnerUnreachable) as excinfo:
        list(_connector(awo, Settings(data_dir=tmp_path, http_retries=2)).pull(None))
    assert str(excinfo.value).endswith(
        'answered HTTP 500 after retries: ODK Central 500.1 "An unknown internal problem has occurred. Please try '
        'again later."; the next run tries again'
    )
    assert len(_feed_requests(_emulator(awo))) == 3

    _emulator(awo).faults.add(10, status=503, retry_after=0)
    with pytest.raises(PartnerUnreachable, match=r"^partner awo-lu: POST http://127.0.0.1:\d+/v1/sessions answered "):
        list(_connector(awo, Settings(data_dir=tmp_path, http_retries=1)).pull(None))


def test_a_host_refusing_the_connection_is_not_connected(awo: demo.Demo, tmp_path: Path) -> None:
    with pytest.raises(PartnerNotConnected, match=r"^partner awo-lu: POST http://127.0.0.1:9/v1/sessions failed: "):
        list(_connector(awo, Settings(data_dir=tmp_path, http_retries=1), base_url="http://127.0.0.1:9").pull(None))


def test_umlauts_and_emoji_in_free_text_arrive_unchanged(awo: demo.Demo) -> None:
    project, form = _form(awo)
    text = "Grüße aus Oggersheim – Maß, Öffnungszeiten, Ärger, Übersetzung 🙏😀 „Zitat“ \"doppelt\" 'einfach'"
    target = awo.served[PARTNER][0]["__id"]
    _emulator(awo).edit(project, form, target, {"hf7/q05": text})
    records = {r["__id"]: r for r in _records(_connector(awo).pull(None))}
    assert records[target]["hf7/q05"] == text
    served = {s["__id"]: s["hf2"]["q08"] for s in awo.served[PARTNER] if s["hf2"]["q08"]}
    assert any("👍" in t or "🙏" in t for t in served.values()), "the generator writes emoji"
    assert {i: records[i]["hf2/q08"] for i in served} == served


def test_deleted_and_undecryptable_submissions_are_reported_not_loaded(
    awo: demo.Demo, caplog: pytest.LogCaptureFixture
) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    served = awo.served[PARTNER]
    emulator.lists_deleted = True  # as Central does when the filter names __system/deletedAt
    emulator.delete(project, form, served[3]["__id"])
    encrypted = copy.deepcopy(served[4])
    encrypted["__system"]["status"] = "notDecrypted"
    emulator.add_submissions(project, form, [encrypted])

    with caplog.at_level(logging.WARNING, logger="pipeline.extract.odk"):
        pages = list(_connector(awo).pull(None))

    assert sorted(_ids(pages)) == sorted(s["__id"] for s in served if s not in (served[3], served[4]))
    assert caplog.messages == [
        f"partner awo-lu: 2 submissions not loaded (ODK Central lists them without answers): "
        f"{served[4]['__id']} (not decrypted: notDecrypted); {served[3]['__id']} (deleted)"
    ]


def test_direct_identifiers_never_reach_the_records(awo: demo.Demo) -> None:
    pages = list(_connector(awo).pull(None))
    planted = ["@beispiel.de", "Mustermann", "Tablet Beratungsstelle", "collect:", "49.4811"]
    served = json.dumps(awo.served[PARTNER], ensure_ascii=False)
    assert all(p in served for p in planted), "the emulator serves what must be dropped"
    for record in _records(pages):
        text = json.dumps(record, ensure_ascii=False)
        assert not any(p in text for p in planted), text
        assert not {"__system/submitterId", "__system/submitterName", "__system/deviceId"} & set(record)
        assert not any(key.startswith(("kontakt/", "standort")) for key in record)


def test_utc_times_are_kept_and_fall_into_the_citys_local_wave_days(awo: demo.Demo) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    valid = next(s for s, r in zip(awo.served[PARTNER], awo.generated[PARTNER], strict=True) if not r.invalid)
    late, early = copy.deepcopy(valid), copy.deepcopy(valid)
    late["__id"], late["__system"]["submissionDate"] = "uuid:spaet", "2026-02-28T23:30:00.000Z"  # 1 March, 00:30
    early["__id"], early["__system"]["submissionDate"] = "uuid:frueh", "2025-06-30T22:30:00.000Z"  # 1 July, 00:30
    emulator.add_submissions(project, form, [late, early])

    ingest_partner(Context.from_environment(), PARTNER, "run-1")

    loaded = query(
        Settings(),
        "select r.wave, r.submitted_at at time zone 'UTC' from core.responses r "
        "join staging.responses s using (record_id) where s.source_id = 'uuid:spaet'",
    )
    assert loaded == [("2026", datetime(2026, 2, 28, 23, 30))], "UTC as sent, a day of the 2026 wave in Berlin"
    quarantined = query(Settings(), "select distinct source_id from ops.quarantine where source_id = 'uuid:frueh'")
    assert quarantined == [("uuid:frueh",)], "1 July in Berlin is after the 2025 wave closed"


def _core_answers(settings: Settings) -> dict[str, dict[str, str]]:
    rows = query(
        settings,
        "select s.source_id, a.item_code, "
        "string_agg(coalesce(a.answer_code, a.answer_text), ' ' order by coalesce(a.answer_code, a.answer_text)) "
        "from core.answers a join core.responses r using (respondent_key) "
        "join staging.responses s on s.record_id = r.record_id group by all",
    )
    out: dict[str, dict[str, str]] = {}
    for source_id, item, value in rows:
        out.setdefault(source_id, {})[item] = value
    return out


def test_ingest_loads_core_as_generated_and_an_edit_replaces_the_earlier_version(awo: demo.Demo, codebook) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    settings = Settings()
    served, generated = awo.served[PARTNER], awo.generated[PARTNER]
    multi = {item.code for item in codebook.items if item.type == "multi"}

    first = ingest_partner(Context(settings), PARTNER, "run-1")

    expected = {
        s["__id"]: {item: " ".join(sorted(v.split())) if item in multi else v for item, v in r.answers.items()}
        for s, r in zip(served, generated, strict=True)
        if not r.invalid
    }
    assert (first.fetched, first.inserted, first.quarantined) == (65, 63, 2)
    assert first.unmapped_fields == set(), "Central's and Collect's fields are known metadata"
    assert _core_answers(settings) == expected

    target = next(s for s, r in zip(served, generated, strict=True) if not r.invalid and "HF1_01" in r.answers)
    new_code = "1" if target["hf1"]["q01"] != "1" else "5"
    emulator.edit(project, form, target["__id"], {"hf1/q01": new_code})

    second = ingest_partner(Context(settings), PARTNER, "run-2")

    latest = max(s["__system"]["submissionDate"] for s in served)
    at_cursor = sum(s["__system"]["submissionDate"] == latest for s in served)
    assert (second.fetched, second.updated, second.unchanged, second.inserted) == (at_cursor + 1, 1, at_cursor, 0)
    assert _core_answers(settings)[target["__id"]]["HF1_01"] == new_code
    versions = query(settings, "select count(*) from raw.records where source_id = ?", [target["__id"]])
    assert versions == [(2,)], "raw keeps both versions"
    assert second.unmapped_fields == set(), "an edit's meta/deprecatedID is known metadata too"


def test_the_emulator_filters_on_the_review_state_as_central_does(awo: demo.Demo) -> None:
    """Central (v2025.4) answers 200 to a $filter on __system/reviewState; `ne` keeps submissions never reviewed
    (null), as its `is distinct from` does, and `eq null` finds them."""
    emulator, (project, form) = _emulator(awo), _form(awo)
    served = awo.served[PARTNER]
    emulator.review(project, form, served[0]["__id"], "rejected")
    emulator.review(project, form, served[1]["__id"], "approved")
    token = emulator.login(awo.registry.partner(PARTNER).connector.email, os.environ["DEMO_TOKEN_AWO_LU"])["token"]

    def ids(expression: str) -> tuple[int, set[str]]:
        response = requests.get(
            f"{awo.services['odk'].url}/v1/projects/{project}/forms/{form}.svc/Submissions",
            params={"$filter": expression},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        return response.status_code, {row["__id"] for row in response.json().get("value", [])}

    everyone = {s["__id"] for s in served}
    assert ids("__system/reviewState ne 'rejected'") == (200, everyone - {served[0]["__id"]})
    assert ids("__system/reviewState eq 'rejected'") == (200, {served[0]["__id"]})
    assert ids("__system/reviewState eq null") == (200, everyone - {served[0]["__id"], served[1]["__id"]})


def test_rejected_submissions_are_listed_apart_unless_the_registry_includes_them(awo: demo.Demo) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    rejected = awo.served[PARTNER][5]["__id"]
    emulator.review(project, form, rejected, "rejected")

    pages = list(_connector(awo).pull(None))
    assert rejected not in _ids(pages) and [i for p in pages for i in p.rejected] == [rejected]
    assert len(_ids(pages)) == len(awo.served[PARTNER]) - 1

    included = list(_connector(awo, include_rejected=True).pull(None))
    assert rejected in _ids(included) and not [i for p in included for i in p.rejected]


def test_a_rejection_removes_the_response_from_core_and_a_review_alone_is_no_new_version(
    awo: demo.Demo,
) -> None:
    emulator, (project, form) = _emulator(awo), _form(awo)
    settings = Settings()
    valid = [s["__id"] for s, r in zip(awo.served[PARTNER], awo.generated[PARTNER], strict=True) if not r.invalid]
    test_entry, approved, later_rejected = valid[0], valid[1], valid[2]
    emulator.review(project, form, test_entry, "rejected")

    first = ingest_partner(Context(settings), PARTNER, "run-1")
    assert (first.fetched, first.inserted, first.quarantined) == (64, 62, 2), "the test entry is not loaded"
    assert test_entry not in _core_answers(settings) and first.gone == 0, "nothing loaded was rejected"

    emulator.review(project, form, approved, "approved")
    emulator.review(project, form, later_rejected, "rejected")
    second = ingest_partner(Context(settings), PARTNER, "run-2")

    assert second.updated == 0 and second.inserted == 0, "a review state alone changes no answer"
    assert second.fetched == second.unchanged + second.duplicates
    assert (second.gone, second.gone_ids) == (1, [later_rejected]), "counted like a response gone at the partner"
    in_core = _core_answers(settings)
    assert approved in in_core and later_rejected not in in_core and len(in_core) == 61
    versions = query(settings, "select count(*) from raw.records where source_id = ?", [approved])
    assert versions == [(1,)], "no new version stored for a review"

    emulator.review(project, form, later_rejected, "approved")  # the reviewer changed their mind
    third = ingest_partner(Context(settings), PARTNER, "run-3")
    assert (third.inserted, third.gone) == (1, None) and later_rejected in _core_answers(settings)

    emulator.review(project, form, later_rejected, "rejected")
    assert ingest_partner(Context(settings), PARTNER, "run-4").gone == 1
    before = _core_answers(settings)
    rebuild(Context(settings))
    assert _core_answers(settings) == before, "a rebuild from raw keeps the rejected response out"
