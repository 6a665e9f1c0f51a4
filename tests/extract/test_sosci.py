"""The SoSci Survey connector against the emulator over loopback HTTP, and into a DuckDB file."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import duckdb
import pytest
import yaml

from pipeline.context import Context
from pipeline.contract.codebook import Codebook
from pipeline.errors import ConfigError, PartnerError, PartnerNotConnected, PartnerUnreachable
from pipeline.extract.sosci import SosciConnector, SosciSettings
from pipeline.load.ingest import ingest_partner
from pipeline.registry import load_registry
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.demo import Demo
from pipeline_testkit.emulators.sosci import SosciEmulator
from tests.conftest import partner_world
from tests.extract.test_limesurvey import _core, _ids, _records
from tests.test_load import _invariant_holds

PARTNER = "hwg-lu-fb4"


@pytest.fixture
def sosci(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER) as world:
        yield world


@pytest.fixture
def quick(tmp_path: Path) -> Settings:
    """Settings that retry once: the error shapes below need not wait for a full backoff."""
    return Settings(data_dir=tmp_path / "quick", http_retries=1)


def _emulator(world: Demo) -> SosciEmulator:
    return world.services["sosci"].emulator  # type: ignore[return-value]


def _project(world: Demo) -> str:
    return world.registry.partner(PARTNER).connector.project  # type: ignore[union-attr]


def _connector(world: Demo, settings: Settings, key: str | None = None, **changes: object) -> SosciConnector:
    partner = world.registry.partner(PARTNER)
    config = partner.connector.model_copy(update={"base_url": world.services["sosci"].url, **changes})
    return config.open(partner.id, key or os.environ[partner.secret_env], settings, partner.identifier_fields)


def _queries(world: Demo) -> list[dict[str, str]]:
    """The parameters of every request the emulator saw (the key left out)."""
    return [
        {k: v[-1] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items() if k != "act"}
        for _, path in _emulator(world).requests
    ]


def test_full_pull_lists_the_cases_then_fetches_finished_ones_range_by_range(sosci: Demo, quick: Settings) -> None:
    pages = list(_connector(sosci, quick).pull(None))
    served = sosci.served[PARTNER]
    assert _ids(pages) == [str(case["CASE"]) for case in served] == [str(i) for i in range(1, 45)]
    # cases_per_page 20 in the registry; 45 (broken off) and 46 (pretest) are listed but never fetched as pages
    assert _queries(sosci) == [
        {"vList": "CASE,QUESTNNR,MODE,FINISHED"},
        {"cases": "1-20"},
        {"cases": "21-40"},
        {"cases": "41-44"},
    ]
    assert [p.records.num_rows for p in pages] == [20, 20, 4]
    assert [p.cursor for p in pages[:-1]] == [None, None], "only the last page moves the cursor"
    assert set(json.loads(pages[-1].cursor)) == {"changed"}
    assert all("act=…" in p.request and os.environ[sosci.registry.partner(PARTNER).secret_env] not in p.request
               for p in pages)  # fmt: skip


def test_incremental_pull_fetches_new_resumed_and_finished_cases_only(sosci: Demo, quick: Settings) -> None:
    emulator, project, served = _emulator(sosci), _project(sosci), sosci.served[PARTNER]
    connector = _connector(sosci, quick)
    cursor = list(connector.pull(None))[-1].cursor
    stamp = json.loads(cursor)["changed"]
    assert abs(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") - datetime.now(ZoneInfo("Europe/Berlin")).replace(
        tzinfo=None)) < timedelta(minutes=1), "the server's own clock, in its local time"  # fmt: skip

    now = emulator.now()
    resumed = {**served[3], "A101_01": 5, "LASTDATA": now}
    finished = {**served[0], "CASE": 45, "LASTDATA": now}
    new = {**served[1], "CASE": 47, "LASTDATA": now}
    abandoned = {**served[2], "CASE": 48, "LASTDATA": now, "FINISHED": 0}
    emulator.store(project, [resumed, finished, new, abandoned])
    emulator.requests.clear()

    pages = list(connector.pull(cursor))
    assert _ids(pages) == ["4", "45", "47"], "4 resumed, 45 finished now, 47 new; 48 is not finished"
    assert _records(pages)[0]["A101_01"] == 5
    since = (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") - timedelta(seconds=60)).isoformat()
    assert _queries(sosci) == [
        {"vList": "CASE,QUESTNNR,MODE,FINISHED", "changed": since},
        {"cases": "4-47", "changed": since},
    ]
    again = list(connector.pull(pages[-1].cursor))
    assert _ids(again) == ["4", "45", "47"], "saved within the overlap before the cursor: read again (unchanged)"


def test_an_incremental_pull_with_nothing_new_still_moves_the_cursor(sosci: Demo, quick: Settings) -> None:
    connector = _connector(sosci, quick)
    cursor = list(connector.pull(None))[-1].cursor
    pages = list(connector.pull(cursor))
    assert [p.records.num_rows for p in pages] == [0]
    assert pages[0].cursor is not None and json.loads(pages[0].cursor)["changed"] >= json.loads(cursor)["changed"]


def test_identifiers_are_removed_and_not_answered_codes_dropped(sosci: Demo, quick: Settings) -> None:
    served = sosci.served[PARTNER]
    assert all(case["SERIAL"] and "@" in case["REF"] and case["Z120_01"].startswith("Erika") for case in served)
    assert any(-9 in case.values() for case in served), "closed questions left unanswered"
    records = _records(list(_connector(sosci, quick).pull(None)))
    assert records and not any({"SERIAL", "REF", "Z120_01"} & r.keys() for r in records)
    assert not any(-9 in r.values() for r in records)
    assert "Mustermann" not in json.dumps(records, ensure_ascii=False)
    assert all(r["QUESTNNR"] == "selbstcheck" and r["FINISHED"] == 1 for r in records)


def test_checkboxes_become_ticks_and_other_values_stay_as_sent(sosci: Demo, quick: Settings) -> None:
    served = sosci.served[PARTNER]
    checkboxes = tuple(f"{q}_" for q in sosci.registry.partner(PARTNER).connector.multiple_choice)  # type: ignore[union-attr]
    records = _records(list(_connector(sosci, quick).pull(None)))
    for case, record in zip(served, records, strict=True):
        for variable, value in case.items():
            if variable.startswith(checkboxes):
                assert record[variable] is (value == 2)
            elif variable not in ("SERIAL", "REF", "Z120_01") and value != -9:
                assert record[variable] == value


def test_a_questionnaire_of_the_same_project_is_left_alone(sosci: Demo, quick: Settings) -> None:
    other = {**sosci.served[PARTNER][0], "CASE": 50, "QUESTNNR": "mitarbeitende"}
    _emulator(sosci).store(_project(sosci), [other])
    assert "50" not in _ids(list(_connector(sosci, quick).pull(None)))
    assert "50" in _ids(list(_connector(sosci, quick, questionnaire=None).pull(None)))


def test_a_rejected_key_fails_at_once_without_the_key(sosci: Demo, quick: Settings) -> None:
    with pytest.raises(PartnerError) as excinfo:
        list(_connector(sosci, quick, key="Sommer2025geheim").pull(None))
    assert not isinstance(excinfo.value, PartnerUnreachable)
    assert "Sommer2025geheim" not in str(excinfo.value)
    assert str(excinfo.value) == (
        f"partner {PARTNER}: GET {sosci.services['sosci'].url}/{_project(sosci)}/?act=… vList=CASE,QUESTNNR,MODE,"
        "FINISHED answered HTTP 403: SoSci Survey refused the API key; check the key in the partner's secret "
        "variable (Collected Data → API for Data Retrieval) and that the link is not deactivated"
    )
    assert len(_emulator(sosci).requests) == 1


def test_an_unknown_project_points_at_the_settings(sosci: Demo, quick: Settings) -> None:
    with pytest.raises(PartnerError, match="HTTP 404: connector.base_url and connector.project do not lead"):
        list(_connector(sosci, quick, project="gibtsnicht").pull(None))


def test_errors_the_api_reports_fail_the_pull(sosci: Demo, quick: Settings) -> None:
    """SoSci lists retrieval errors (e.g. a variable that does not exist) in "errors" beside the data."""
    project = _emulator(sosci).projects[_project(sosci)]
    project.cases = {n: {k: v for k, v in c.items() if k != "MODE"} for n, c in project.cases.items()}
    with pytest.raises(PartnerError, match=r"SoSci Survey reported \['Die Variable MODE existiert nicht.'\]"):
        list(_connector(sosci, quick).pull(None))


def test_retry_after_is_honoured_before_trying_again(sosci: Demo, quick: Settings) -> None:
    _emulator(sosci).faults.add(1, status=503, retry_after=1)
    pages = list(_connector(sosci, quick).pull(None))
    assert len(_ids(pages)) == len(sosci.served[PARTNER])
    times = [t for t, _ in _emulator(sosci).requests]
    assert times[1] - times[0] >= 1.0


def test_a_partner_down_for_good_is_unreachable_without_the_key(sosci: Demo, tmp_path: Path) -> None:
    _emulator(sosci).faults.add(10, status=503, retry_after=0)
    key = os.environ[sosci.registry.partner(PARTNER).secret_env]
    with pytest.raises(PartnerUnreachable, match=rf"partner {PARTNER}: GET .*answered HTTP 503 after retries") as e:
        list(_connector(sosci, Settings(data_dir=tmp_path, http_retries=2)).pull(None))
    assert key not in str(e.value)
    assert len(_emulator(sosci).requests) == 3


def test_a_server_refusing_the_connection_is_not_connected(quick: Settings) -> None:
    config = SosciSettings(kind="sosci", base_url="http://127.0.0.1:9", project="p")
    with pytest.raises(PartnerNotConnected) as excinfo:
        list(config.open(PARTNER, "k", quick, ()).pull(None))
    assert str(excinfo.value) == (
        f"partner {PARTNER}: GET http://127.0.0.1:9/p/?act=… vList=CASE,QUESTNNR,MODE,FINISHED failed: "
        "connection refused; check that connector.base_url is right and that the server is up"
    )


def test_the_key_never_reaches_a_log_line(sosci: Demo, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """urllib3 logs each request line, query string included, at DEBUG, and each retry at WARNING."""
    _emulator(sosci).faults.add(1, status=503, retry_after=0)
    key = os.environ[sosci.registry.partner(PARTNER).secret_env]
    with caplog.at_level(logging.DEBUG):
        list(_connector(sosci, Settings(data_dir=tmp_path, http_retries=2)).pull(None))
    lines = [record.getMessage() for record in caplog.records]
    assert any("act=…" in line for line in lines), "the request lines were logged"
    assert not [line for line in lines if key in line]


def test_a_cursor_of_another_connector_is_refused(sosci: Demo, quick: Settings) -> None:
    with pytest.raises(PartnerError, match=r'the stored cursor \'{"from_id": 66}\' is not SoSci\'s'):
        list(_connector(sosci, quick).pull(json.dumps({"from_id": 66})))


def test_connector_settings_are_checked_naming_partner_and_field(tmp_path: Path, codebook: Codebook) -> None:
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    connector = next(p for p in data["partners"] if p["id"] == PARTNER)["connector"]
    connector.update(cases_per_page=0, timezone="Europe/Ludwigshafen", project="hwg lu")
    path = tmp_path / "partners.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_registry(path, codebook, check_secrets=False)
    for field in ("cases_per_page", "timezone", "project"):
        assert f"partner {PARTNER}: connector.sosci.{field}: " in str(excinfo.value)


def _truth(world: Demo, codebook: Codebook) -> tuple[dict[str, datetime], set[tuple[str, str, str]]]:
    valid = [r for r in world.generated[PARTNER] if not r.invalid]
    answers = {
        (str(r.id), item, code)
        for r in valid
        for item, value in r.answers.items()
        for code in (value.split() if codebook.item_by_code[item].type == "multi" else [value])
    }
    return {str(r.id): r.submitted_at for r in valid}, answers


def test_ingest_loads_core_as_generated_and_accounts_for_every_case(sosci: Demo, codebook: Codebook) -> None:
    """Server-local times (Berlin, summer and winter) become the generated UTC; -1 and -2 are recoded to
    'weiß nicht' and 'keine Angabe', -9 is an unanswered item, ticked checkboxes are the options."""
    first = ingest_partner(Context.from_environment(), PARTNER, "run-1")
    generated = sosci.generated[PARTNER]
    invalid = sum(r.invalid for r in generated)
    assert (first.fetched, first.inserted, first.quarantined, first.unchanged) == (44, 44 - invalid, invalid, 0)
    assert first.unmapped_fields == set() and first.gone == 0 and _invariant_holds(first)
    assert _core(Settings()) == _truth(sosci, codebook)

    emulator, project, served = _emulator(sosci), _project(sosci), sosci.served[PARTNER]
    valid = next(i for i, r in enumerate(generated) if not r.invalid)
    case = served[valid]
    changed_item = next(k for k, v in case.items() if k.startswith("A101_") and v in (1, 2, 3, 4, 5))
    emulator.store(project, [{**case, changed_item: case[changed_item] % 5 + 1}])  # the respondent resumed
    resumed = ingest_partner(Context.from_environment(), PARTNER, "run-2")
    assert (resumed.fetched, resumed.updated, resumed.inserted) == (1, 1, 0) and _invariant_holds(resumed)

    # an edit in SoSci's data view that keeps the data time is seen by the next full read, as is a deletion
    other = served[next(i for i, r in enumerate(generated) if not r.invalid and i > valid)]
    emulator.store(project, [{**other, changed_item: other.get(changed_item, 1) % 5 + 1}], touch=False)
    emulator.delete(project, int(served[-1]["CASE"]))
    within_the_week = ingest_partner(Context.from_environment(), PARTNER, "run-3")
    assert (within_the_week.fetched, within_the_week.unchanged) == (1, 1), "the resumed case, within the overlap"
    con = duckdb.connect(str(Settings().db_path))
    con.execute("update ops.full_reads set read_at = read_at - interval 8 days where partner_id = ?", [PARTNER])
    con.close()
    full = ingest_partner(Context.from_environment(), PARTNER, "run-4")
    assert (full.fetched, full.updated, full.inserted, full.gone) == (43, 1, 0, 1) and _invariant_holds(full)
    assert full.gone_ids == [str(served[-1]["CASE"])]


def test_times_are_read_in_the_partners_time_zone(sosci: Demo, quick: Settings) -> None:
    pages = list(_connector(sosci, quick).pull(None))
    sent = dict(zip(_ids(pages), [t for p in pages for t in p.records.column("submitted_at").to_pylist()], strict=True))
    offsets = set()
    for response in sosci.generated[PARTNER]:
        local = datetime.strptime(sent[str(response.id)], "%Y-%m-%d %H:%M:%S")
        assert local == response.submitted_at.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin")).replace(
            tzinfo=None)  # fmt: skip
        offsets.add(local - response.submitted_at)
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}
