"""The LimeSurvey RemoteControl 2 connector against the emulator over loopback HTTP, and into a DuckDB file."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import requests
import yaml

from pipeline.context import Context
from pipeline.contract.codebook import Codebook
from pipeline.errors import ConfigError, PartnerError, PartnerNotConnected, PartnerUnreachable, PayloadError
from pipeline.extract import Page
from pipeline.extract.limesurvey import LimeSurveyConnector, LimeSurveySettings
from pipeline.load.ingest import ingest_partner
from pipeline.registry import load_registry
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.demo import Demo
from pipeline_testkit.emulators.limesurvey import (
    HTML_500,
    LOGIN_PAGE,
    LimeSurveyEmulator,
    RawReply,
    RpcError,
    php_json,
    rows_from_csv,
)
from tests.conftest import SHARED, demo_registry_of, partner_world, query, registry_world

PARTNER = "stadt-bildung-lu"
NES = SHARED / "payloads" / "limesurvey"


@pytest.fixture
def lime(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        yield world


@pytest.fixture
def quick(tmp_path: Path) -> Settings:
    """Settings that retry once: the error shapes below need not wait for a full backoff."""
    return Settings(data_dir=tmp_path / "quick", http_retries=1)


def _emulator(world: Demo) -> LimeSurveyEmulator:
    return world.services["limesurvey"].emulator  # type: ignore[return-value]


def _survey(world: Demo) -> int:
    return world.registry.partner(PARTNER).connector.survey_id  # type: ignore[union-attr]


def _connector(world: Demo, settings: Settings, password: str | None = None, **changes: object) -> LimeSurveyConnector:
    partner = world.registry.partner(PARTNER)
    config = partner.connector.model_copy(update={"base_url": world.services["limesurvey"].url, **changes})
    return config.open(partner.id, password or os.environ[partner.secret_env], settings, partner.identifier_fields)


def _ids(pages: list[Page]) -> list[str]:
    return [i for p in pages for i in p.records.column("source_id").to_pylist()]


def _records(pages: list[Page]) -> list[dict]:
    return [json.loads(r) for p in pages for r in p.records.column("record").to_pylist()]


def _exports(world: Demo) -> list[tuple]:
    """(completion, from id, to id, fields) of every export_responses call the emulator saw."""
    return [(p[3], p[6], p[7], p[8]) for method, p in _emulator(world).calls if method == "export_responses"]


def _row(template: dict, response_id: int, **changes: object) -> dict:
    """A served row as response response_id (completing or editing it when that id is stored already)."""
    return {**template, "id": response_id, **changes}


def _pull_rows(tmp_path: Path, rows: list[dict], **changes: object) -> list[Page]:
    """Serve rows from a LimeSurvey of their own and pull them all."""
    emulator = LimeSurveyEmulator()
    emulator.add_user("nes", "geheim")
    emulator.add_survey(225461, "nes", rows, languages=("en",))
    server = emulator.serve()
    try:
        config = LimeSurveySettings(kind="limesurvey", base_url=server.url, survey_id=225461, username="nes", **changes)
        return list(config.open("nes-sample", "geheim", Settings(data_dir=tmp_path), ()).pull(None))
    finally:
        server.stop()


def test_full_pull_exports_complete_responses_range_by_range(lime: Demo, quick: Settings) -> None:
    pages = list(_connector(lime, quick).pull(None))
    served = lime.served[PARTNER]
    assert _ids(pages) == [str(row["id"]) for row in served] == [str(i) for i in range(1, 66)]
    # ids_per_page 25 in the registry; ids 66 and 67 are the demo's abandoned responses
    assert _exports(lime) == [
        ("complete", 1, 25, None), ("incomplete", 1, 25, ["id"]),
        ("complete", 26, 50, None), ("incomplete", 26, 50, ["id"]),
        ("complete", 51, 75, None), ("incomplete", 51, 75, ["id"]),
        ("complete", 76, 100, None), ("incomplete", 76, 100, ["id"]),
        ("all", 101, None, ["id"]),
    ]  # fmt: skip
    assert [p.records.num_rows for p in pages] == [25, 25, 15, 0]
    assert json.loads(pages[-1].cursor) == {"from_id": 66}, "the lowest incomplete id"
    calls = [method for method, _ in _emulator(lime).calls]
    assert calls[0] == "get_session_key" and calls[-1] == "release_session_key"
    assert _emulator(lime).open_sessions == 0


def test_incremental_pull_fetches_completed_new_and_edited_responses_only(lime: Demo, quick: Settings) -> None:
    emulator, survey, served = _emulator(lime), _survey(lime), lime.served[PARTNER]
    connector = _connector(lime, quick)
    cursor = list(connector.pull(None))[-1].cursor

    emulator.store(survey, [_row(served[0], 66), _row(served[1], 68), _row(served[2], 69, submitdate=None)])
    pages = list(connector.pull(cursor))
    assert _ids(pages) == ["66", "68"], "66 was completed, 68 is new; 67 and 69 are still incomplete"
    assert json.loads(pages[-1].cursor) == {"from_id": 67}

    emulator.store(survey, [_row(served[3], 67), _row(served[1], 68, HF7Q05="Ergänzt am Folgetag ✍️")])
    pages = list(connector.pull(pages[-1].cursor))
    assert _ids(pages) == ["67", "68"], "67 was completed; 68 above it is read again, with its edit"
    assert _records(pages)[1]["HF7Q05"] == "Ergänzt am Folgetag ✍️"
    assert json.loads(pages[-1].cursor) == {"from_id": 69}
    # ranges 67-91 (67, 68) and 92-116 (empty), then whether anything lies beyond
    assert _exports(lime)[-3:] == [
        ("complete", 92, 116, None),
        ("incomplete", 92, 116, ["id"]),
        ("all", 117, None, ["id"]),
    ]


def test_identifiers_are_removed_and_metadata_kept(lime: Demo, quick: Settings) -> None:
    served = lime.served[PARTNER]
    assert all(row["token"] and row["ipaddr"] and row["KONTAKT"].startswith("Erika") for row in served)
    records = _records(list(_connector(lime, quick).pull(None)))
    assert records and not any({"token", "ipaddr", "refurl", "KONTAKT"} & r.keys() for r in records)
    assert all(r["startlanguage"] == "de" and isinstance(r["lastpage"], int) for r in records)
    assert "Mustermann" not in json.dumps(records, ensure_ascii=False)


def test_umlauts_and_emoji_survive_php_escaped_json(lime: Demo, quick: Settings) -> None:
    text = "Übersetzte Infoblätter für Eltern 👍 – Kita/Schule, „Sprachcafé“ 🙏"
    emulator, survey = _emulator(lime), _survey(lime)
    emulator.store(survey, [_row(lime.served[PARTNER][0], 70, HF7Q05=text)])
    encoded = php_json({"t": text})
    assert b"\\u00dc" in encoded and b"\\ud83d\\udc4d" in encoded and b"\\/" in encoded, "as PHP writes it"
    pages = list(_connector(lime, quick).pull(json.dumps({"from_id": 70})))
    assert _records(pages)[0]["HF7Q05"] == text


def test_older_servers_rows_wrapped_under_their_id_read_alike(lime: Demo, quick: Settings) -> None:
    modern = list(_connector(lime, quick).pull(None))
    _emulator(lime).legacy_json = True
    legacy = list(_connector(lime, quick).pull(None))
    assert _ids(legacy) == _ids(modern)
    assert [p.records.column("submitted_at") for p in legacy] == [p.records.column("submitted_at") for p in modern]
    assert [{**r, "id": str(r["id"])} for r in _records(legacy)] == [
        {**r, "id": str(r["id"])} for r in _records(modern)
    ]


def test_server_local_times_are_sent_without_zone(lime: Demo, quick: Settings) -> None:
    """Berlin in spring: responses before the switch to summer time are UTC+1, after it UTC+2."""
    connector = _connector(lime, quick)
    assert connector.naive_timezone == "Europe/Berlin" == LimeSurveySettings.model_fields["timezone"].default
    pages = list(connector.pull(None))
    sent = dict(zip(_ids(pages), [t for p in pages for t in p.records.column("submitted_at").to_pylist()], strict=True))
    offsets = set()
    for response in lime.generated[PARTNER]:
        local = datetime.strptime(sent[str(response.id)], "%Y-%m-%d %H:%M:%S")
        utc = response.submitted_at.replace(tzinfo=UTC)
        assert local == utc.astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
        offsets.add(local - response.submitted_at)
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}


def test_a_survey_without_date_stamps_leaves_the_time_missing_or_takes_the_datestamp(tmp_path: Path) -> None:
    """The recorded NES export of a survey that records no dates: submitdate is 1980-01-01 00:00:00."""
    recorded = rows_from_csv(
        (NES / "nes_export_responses_by_token_csv_submitdate_1980_not_datestamped.csv").read_bytes()
    )
    datestamped = {**recorded[0], "id": 5, "datestamp": "2025-04-02 09:15:00"}
    pages = _pull_rows(tmp_path, [*recorded, datestamped])
    assert [p.records.column("submitted_at").to_pylist() for p in pages if p.records.num_rows] == [
        [None, "2025-04-02 09:15:00"]
    ]
    record = _records(pages)[0]
    assert record["submitdate"] == "1980-01-01 00:00:00" and record["Textfrage"] == "Textantwort"
    assert "token" not in record


def test_recorded_nes_exports_keep_limesurvey_codes_and_values(tmp_path: Path) -> None:
    """Every question type of a real LimeSurvey 2.73 export (German codes), and its unicode sample."""
    recorded = rows_from_csv(
        (NES / "nes_export_responses_csv_code_headings_german_all_question_types.csv").read_bytes()
    )
    records = _records(_pull_rows(tmp_path, recorded))
    expected = [{k: v for k, v in row.items() if k != "token"} for row in recorded]
    assert records == expected
    assert {"arraydualeskala[SQ001][1]", "mehrfachauswahlmitko[SQ001comment]", "rang[1]"} <= records[0].keys()
    unicode_rows = rows_from_csv((NES / "nes_export_responses_csv_3rows_unicode_fileupload.csv").read_bytes())
    assert {r["firstQuestion"] for r in _records(_pull_rows(tmp_path, unicode_rows))} == {"Olá Mundo!"}


def test_the_csv_export_is_what_current_core_sends(lime: Demo) -> None:
    """Asked over JSON-RPC as any client would: UTF-8 BOM, ';', every value quoted, CRLF, NULL empty unquoted,
    a blank line at the end; its rows read back as they were stored."""
    url = lime.services["limesurvey"].url + "/index.php/admin/remotecontrol"
    partner = lime.registry.partner(PARTNER)

    def call(method: str, *params: object) -> object:
        reply = requests.post(url, json={"method": method, "params": list(params), "id": 1}, timeout=10).json()
        assert reply["error"] is None
        return reply["result"]

    key = call("get_session_key", "chancencheck", os.environ[partner.secret_env])
    export = base64.b64decode(call("export_responses", key, _survey(lime), "csv", "de", "all", "code", "short", 60, 67))
    call("release_session_key", key)
    lines = export.split(b"\r\n")
    assert export.startswith(b'\xef\xbb\xbf"id";"submitdate";"lastpage"') and export.endswith(b"\r\n\r\n")
    assert lines[-2:] == [b"", b""] and len(lines) == 1 + 8 + 2
    assert lines[-3].startswith(b'"67";;"2";"de";'), "an abandoned response: NULL submitdate, empty and unquoted"
    assert rows_from_csv(export)[0]["HF1Q02"] == lime.served[PARTNER][59]["HF1Q02"]


def test_an_expired_session_key_leads_to_one_new_login(lime: Demo, quick: Settings) -> None:
    pages = _connector(lime, quick).pull(None)
    first = next(pages)
    _emulator(lime).expire_sessions()
    rest = list(pages)
    assert _ids([first, *rest]) == [str(row["id"]) for row in lime.served[PARTNER]]
    calls = [method for method, _ in _emulator(lime).calls]
    assert calls.count("get_session_key") == 2 and calls[-1] == "release_session_key"
    assert _emulator(lime).open_sessions == 0


def test_a_session_key_rejected_again_after_a_new_login_fails(lime: Demo, quick: Settings) -> None:
    _emulator(lime).session_lifetime = 0
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(lime, quick).pull(None))
    assert str(excinfo.value) == (
        "partner stadt-bildung-lu: RemoteControl export_responses: LimeSurvey rejected the session key again right "
        "after a new login (Invalid session key): check the server's session settings (iSessionExpirationTime)"
    )
    assert [method for method, _ in _emulator(lime).calls].count("get_session_key") == 2


def test_rejected_credentials_say_so_without_the_password(lime: Demo, quick: Settings) -> None:
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(lime, quick, password="Sommer2025!").pull(None))
    assert str(excinfo.value) == (
        "partner stadt-bildung-lu: LimeSurvey rejected the credentials of user 'chancencheck' (Invalid user name or "
        "password): check connector.username in the registry and the password in the partner's secret variable"
    )
    assert not isinstance(excinfo.value, PartnerUnreachable)
    assert [method for method, _ in _emulator(lime).calls] == ["get_session_key"], "no key, nothing to release"


def test_no_permission_points_at_the_survey_id(lime: Demo, quick: Settings) -> None:
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(lime, quick, survey_id=999_999).pull(None))
    assert str(excinfo.value) == (
        "partner stadt-bildung-lu: RemoteControl export_responses answered status 'No permission': survey 999999 "
        "does not exist or user 'chancencheck' may not export its responses; check connector.survey_id and the "
        "user's permissions on the survey"
    )
    assert _emulator(lime).calls[-1][0] == "release_session_key" and _emulator(lime).open_sessions == 0


def test_a_survey_without_any_response_is_an_empty_pull(lime: Demo, quick: Settings) -> None:
    _emulator(lime).add_survey(512_345, "chancencheck")
    assert list(_connector(lime, quick, survey_id=512_345).pull(None)) == []
    assert _emulator(lime).calls[-1][0] == "release_session_key"


@pytest.mark.parametrize(
    ("survey", "changes", "message"),
    [
        (
            {"active": False},
            {},
            "RemoteControl export_responses answered status 'No Data, survey table does not exist.': survey 512346 "
            "has no responses table: it is not activated yet, or connector.survey_id is wrong",
        ),
        (
            {"languages": ("de",)},
            {"language": "tr"},
            "RemoteControl export_responses answered status 'Language code not found for this survey.': survey "
            "512346 has no language 'tr': fix or remove connector.language",
        ),
    ],
)
def test_application_errors_name_the_survey_and_the_setting(
    lime: Demo, quick: Settings, survey: dict, changes: dict, message: str
) -> None:
    _emulator(lime).add_survey(512_346, "chancencheck", lime.served[PARTNER][:3], **survey)
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(lime, quick, survey_id=512_346, **changes).pull(None))
    assert str(excinfo.value) == f"partner stadt-bildung-lu: {message}"


@pytest.mark.parametrize(
    ("reply", "method", "message"),
    [
        (
            RawReply(500, HTML_500),
            "export_responses",
            "RemoteControl export_responses: POST {url} answered HTTP 500 with an HTML error page: this LimeSurvey "
            "does not know the method or failed on it; see the server's error log and its version",
        ),
        (
            RawReply(200, b""),
            None,
            "RemoteControl get_session_key: POST {url} answered HTTP 200 with an empty body: the JSON-RPC interface "
            "is probably switched off (LimeSurvey: Configuration > Global settings > Interfaces > RPC interface "
            "enabled: JSON-RPC)",
        ),
        (
            RawReply(200, LOGIN_PAGE),
            None,
            "RemoteControl get_session_key: POST {url} answered HTTP 200 with an HTML page instead of JSON-RPC: the "
            "JSON-RPC interface is switched off, or connector.endpoint is not LimeSurvey's RemoteControl URL",
        ),
        (
            RawReply(200, b"Fatal error: Allowed memory size exhausted", "text/plain"),
            "export_responses",
            "RemoteControl export_responses: POST {url} answered HTTP 200 with 42 bytes that are not a JSON-RPC "
            "reply (text/plain): check connector.base_url and endpoint",
        ),
        (
            RawReply(404, b"<!DOCTYPE html><html><body><h1>Page not found</h1></body></html>"),
            None,
            "RemoteControl get_session_key: POST {url} answered HTTP 404: connector.base_url and connector.endpoint "
            "do not lead to LimeSurvey's RemoteControl (without URL rewriting it is /index.php?r=admin/remotecontrol)",
        ),
        (
            RpcError("unknown method or incorrect parameters"),
            "export_responses",
            "RemoteControl export_responses failed with the JSON-RPC error 'unknown method or incorrect parameters': "
            "check connector.endpoint and that this LimeSurvey version offers export_responses",
        ),
    ],
    ids=["http-500-html", "empty-body", "html-page", "not-json", "http-404", "protocol-error"],
)
def test_replies_that_are_not_results_are_partner_errors(
    lime: Demo, quick: Settings, reply: RawReply | RpcError, method: str | None, message: str
) -> None:
    _emulator(lime).inject(reply, method, count=5)
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(lime, quick).pull(None))
    url = lime.services["limesurvey"].url + "/index.php/admin/remotecontrol"
    assert str(excinfo.value) == "partner stadt-bildung-lu: " + message.format(url=url)
    assert not isinstance(excinfo.value, PartnerUnreachable)
    assert _emulator(lime).open_sessions == 0, "released also after the error"


def test_a_transient_outage_is_retried(lime: Demo, quick: Settings) -> None:
    _emulator(lime).faults.add(1, status=503, retry_after=0)
    assert len(_ids(list(_connector(lime, quick).pull(None)))) == len(lime.served[PARTNER])


def test_a_server_refusing_the_connection_is_not_connected(quick: Settings) -> None:
    config = LimeSurveySettings(kind="limesurvey", base_url="http://127.0.0.1:9", survey_id=1, username="u")
    with pytest.raises(PartnerNotConnected) as excinfo:
        list(config.open(PARTNER, "pw", quick, ()).pull(None))
    assert str(excinfo.value) == (
        "partner stadt-bildung-lu: RemoteControl get_session_key: POST "
        "http://127.0.0.1:9/index.php/admin/remotecontrol failed: connection refused; "
        "check that connector.base_url is right and that the server is up"
    )


def test_a_gap_of_deleted_ids_wider_than_a_range_is_skipped(tmp_path: Path, lime: Demo) -> None:
    served = lime.served[PARTNER]
    rows = [_row(served[0], 1), _row(served[1], 2), _row(served[2], 640), _row(served[3], 641)]
    pages = _pull_rows(tmp_path, rows, ids_per_page=25)
    assert _ids(pages) == ["1", "2", "640", "641"]
    assert json.loads(pages[-1].cursor) == {"from_id": 642}


def test_a_server_ignoring_the_id_range_is_a_payload_error(lime: Demo, quick: Settings) -> None:
    rows = [_row(lime.served[PARTNER][0], 999)]
    export = base64.b64encode(php_json({"responses": rows})).decode()
    _emulator(lime).inject(RawReply(200, php_json({"id": 2, "result": export, "error": None})), "export_responses")
    with pytest.raises(PayloadError, match="asked for ids 1-25, LimeSurvey sent ids 999-999: the server ignores"):
        list(_connector(lime, quick).pull(None))


def test_a_cursor_of_another_connector_is_refused(lime: Demo, quick: Settings) -> None:
    with pytest.raises(PartnerError, match=r"the stored cursor '2025-05-01T10:00:00' is not LimeSurvey's"):
        list(_connector(lime, quick).pull("2025-05-01T10:00:00"))


def test_an_unknown_time_zone_is_a_registry_error(tmp_path: Path, codebook: Codebook) -> None:
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    next(p for p in data["partners"] if p["id"] == PARTNER)["connector"]["timezone"] = "Europe/Ludwigshafen"
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="partner stadt-bildung-lu: connector.limesurvey.timezone: Value error, "):
        load_registry(path, codebook, check_secrets=False)


def _core(settings: Settings) -> tuple[dict[str, datetime], set[tuple[str, str, str]]]:
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        times = con.execute(
            "select s.source_id, timezone('UTC', r.submitted_at) from core.responses r "
            "join staging.responses s on s.record_id = r.record_id"
        ).fetchall()
        answers = con.execute(
            "select s.source_id, a.item_code, coalesce(a.answer_code, a.answer_text) from core.answers a "
            "join core.responses r using (respondent_key) join staging.responses s on s.record_id = r.record_id"
        ).fetchall()
    finally:
        con.close()
    return dict(times), set(answers)


def _truth(world: Demo, codebook: Codebook) -> tuple[dict[str, datetime], set[tuple[str, str, str]]]:
    valid = [r for r in world.generated[PARTNER] if not r.invalid]
    answers = {
        (str(r.id), item, code)
        for r in valid
        for item, value in r.answers.items()
        for code in (value.split() if codebook.item_by_code[item].type == "multi" else [value])
    }
    return {str(r.id): r.submitted_at for r in valid}, answers


def test_ingest_loads_core_as_generated_and_later_completions_on_later_runs(lime: Demo, codebook: Codebook) -> None:
    run = ingest_partner(Context.from_environment(), PARTNER, "run-1")
    generated = lime.generated[PARTNER]
    invalid = sum(r.invalid for r in generated)
    assert (run.fetched, run.inserted, run.quarantined, run.unchanged) == (65, 65 - invalid, invalid, 0)
    assert run.unmapped_fields == set()
    assert _core(Settings()) == _truth(lime, codebook)

    emulator, survey, served = _emulator(lime), _survey(lime), lime.served[PARTNER]
    valid = next(i for i, r in enumerate(generated) if not r.invalid)
    emulator.store(survey, [_row(served[valid], 66), _row(served[valid], 68)])
    run = ingest_partner(Context.from_environment(), PARTNER, "run-2")
    assert (run.fetched, run.inserted, run.unchanged) == (2, 2, 0), "66 completed, 68 new; 67 still incomplete"

    emulator.store(survey, [_row(served[valid], 67)])
    run = ingest_partner(Context.from_environment(), PARTNER, "run-3")
    assert (run.fetched, run.inserted, run.unchanged) == (2, 1, 1), "67 completed; 68 read again, unchanged"
    times, _ = _core(Settings())
    assert {k: times[k] for k in ("66", "67", "68")} == dict.fromkeys(("66", "67", "68"), generated[valid].submitted_at)


def test_times_are_read_in_the_partners_time_zone(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codebook: Codebook
) -> None:
    """A LimeSurvey server in New York: its local times, without zone, become the same UTC as generated."""
    with partner_world(settings, tmp_path, monkeypatch, PARTNER, timezone="America/New_York") as world:
        first = world.generated[PARTNER][0]
        sent = world.served[PARTNER][0]["submitdate"]
        new_york = first.submitted_at.replace(tzinfo=UTC).astimezone(ZoneInfo("America/New_York"))
        assert sent == new_york.strftime("%Y-%m-%d %H:%M:%S")
        ingest_partner(Context.from_environment(), PARTNER, "run-1")
        times, _ = _core(Settings())
    assert times == _truth(world, codebook)[0]


def test_times_in_the_repeated_and_the_skipped_hour_load_as_one_instant_each(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Berlin: 02:30 on 25 October 2026 exists twice (the earlier, summer time instant is taken), 02:30 on 29 March
    2026 not at all (read with the offset before the gap, as Python's fold=0 does); neither is quarantined."""
    data = demo_registry_of(PARTNER)
    data["waves"].append(
        {
            "code": "2026h2",
            "label": "Welle 2026/2",
            "instrument_version": "2026.1",
            "opens": "2026-07-01",
            "closes": "2026-12-31",
        }
    )
    with registry_world(settings, tmp_path, monkeypatch, data) as world:
        template = next(
            row for row, r in zip(world.served[PARTNER], world.generated[PARTNER], strict=True) if not r.invalid
        )
        sent = {"201": "2026-10-25 02:30:00", "202": "2026-03-29 02:30:00"}
        rows = [_row(template, int(i), submitdate=t, datestamp=t) for i, t in sent.items()]
        _emulator(world).store(_survey(world), rows)

        run = ingest_partner(Context.from_environment(), PARTNER, "run-1")
        times, _ = _core(Settings())

    assert not query(Settings(), "select * from ops.quarantine where source_id in ('201', '202')")
    assert run.inserted == run.fetched - sum(r.invalid for r in world.generated[PARTNER])
    berlin = ZoneInfo("Europe/Berlin")
    assert times["201"] == datetime(2026, 10, 25, 0, 30), "02:30 summer time (UTC+2), the earlier of the two"
    assert times["202"] == datetime(2026, 3, 29, 1, 30), "read as UTC+1, the offset before the gap"
    for source_id, local in sent.items():
        expected = datetime.fromisoformat(local).replace(tzinfo=berlin).astimezone(UTC)  # fold=0
        assert times[source_id] == expected.replace(tzinfo=None)
