"""Orchestration on a real Prefect server: `pipeline server` (Prefect server, served deployments, webhook
receiver) against the demo world, driven as partners and operators drive it (signed webhooks, `pipeline
trigger`) and observed through the Prefect API and the DuckDB file.

One module-scoped fixture starts the server on free loopback ports with a temporary PREFECT_HOME and stops it
by PID at the end (module, not session: its environment and processes end with the tests that use them).
Expected tables come from a sequential run of the pipeline's own functions into a fresh DuckDB file over the
same emulators, so "equal to one sequential run" is checked literally.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import duckdb
import pytest
import requests
import yaml

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import analyst, release
from pipeline.service.lock import writer_lock
from pipeline.service.webhooks import sign
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_testkit import demo
from pipeline_testkit.emulators import kobo
from pipeline_testkit.emulators.synthetic import Plan, Response, responses

CRON = "30 3 * * *"
WINDOW = 15
# The served deployments' bound on runs at once, and the size of a storm of calls for one partner.
RUNS_AT_ONCE = 5
STORM = 20
DEADLINE = 180.0
BODY = b'{"note": "new responses"}'
# Only rejected calls are ever made for this partner: no ingest-partner run may name it.
SILENT = "stadt-lu"
# Later than every generated submission, inside the 2026 wave (which closes 2026-06-30 in Berlin).
LATE = datetime(2026, 6, 30, 21, 59, 30)
WAVE_CLOSES = datetime(2026, 6, 30, 22, 0, 0)  # UTC
MARTS = ("item_results", "item_distribution", "field_results", "free_text_counts")
ACTIVE = ["SCHEDULED", "PENDING", "RUNNING"]
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
T = TypeVar("T")


class Output:
    """The lines a child process prints, read by a thread so that waiting for one has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.text:
            assert self._process.poll() is None, f"ended with {self._process.returncode}:\n{self.text}"
            assert time.monotonic() < deadline, f"no {text!r} within {seconds:.0f} s:\n{self.text}"
            time.sleep(0.2)


@dataclasses.dataclass
class Service:
    world: demo.Demo
    settings: Settings
    api: str
    hooks: str
    output: Output
    children: dict[str, int]
    added: int = 0

    def secret(self, partner_id: str) -> str:
        return self.world.env[self.world.registry.partner(partner_id).secret_env]

    def signed(self, partner_id: str, secret: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {"X-Timestamp": ts, "X-Signature": sign(secret or self.secret(partner_id), ts, BODY)}

    def call(self, partner_id: str, headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{self.hooks}/hooks/{partner_id}", data=BODY, headers=headers, timeout=10)

    def api_post(self, path: str, body: dict[str, Any]) -> Any:
        answer = requests.post(f"{self.api}/{path}", json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def runs(self, deployment: str, states: list[str] | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"deployments": {"name": {"any_": [deployment]}}, "limit": 200}
        if states:
            body["flow_runs"] = {"state": {"type": {"any_": states}}}
        return self.api_post("flow_runs/filter", body)

    def mark_events(self) -> None:
        """Send an event of the test's own and wait until the server has stored it."""
        mark = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": "test.mark",
            "resource": {"prefect.resource.id": "test.mark"},
        }
        requests.post(f"{self.api}/events", json=[mark], timeout=10).raise_for_status()
        stored = {"filter": {"event": {"name": ["test.mark"]}, "id": {"id": [mark["id"]]}}}
        until(lambda: self.api_post("events/filter", stored)["events"], "the server stores an event", 60)

    def run(self, run_id: str) -> dict[str, Any]:
        return requests.get(f"{self.api}/flow_runs/{run_id}", timeout=10).json()

    def add_responses(self, partner_id: str, n: int) -> list[Response]:
        """New submissions at a Kobo partner, later than all it had, as a partner's respondents send them."""
        partner = self.world.registry.partner(partner_id)
        wave = next(w for w in self.world.registry.waves if w.code == "2026")
        drawn = responses(self.world.codebook, Plan(partner, wave, n, 10_000 + self.added), demo.SEED, LATE)
        # one second apart and after every earlier addition: a pull reads from its cursor's second on
        at = [LATE + timedelta(seconds=self.added + i) for i in range(n)]
        assert at[-1] < WAVE_CLOSES, "more additions than seconds left in the 2026 wave"
        fresh = [dataclasses.replace(r, submitted_at=t) for r, t in zip(drawn, at, strict=True)]
        self.added += n
        emulator: kobo.KoboEmulator = self.world.services["kobo"].emulator  # type: ignore[assignment]
        emulator.add_submissions(
            partner.connector.asset_uid, [kobo.submission(partner, self.world.codebook, r) for r in fresh]
        )
        self.world.generated[partner_id] += fresh
        return fresh


def until(check: Callable[[], T], what: str, seconds: float = DEADLINE) -> T:
    """Poll check until it returns something truthy; fail naming what did not happen within the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {seconds:.0f} s"
        time.sleep(1)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    base = tmp_path_factory.mktemp("orchestration")
    settings = Settings(data_dir=base / "data")
    with demo.running(settings, source=_without_file_drops(base)) as world:
        env = {
            **os.environ,
            **world.env,
            "PREFECT_HOME": str(base / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",
            "PIPELINE_PREFECT_PORT": "0",
            "PIPELINE_WEBHOOK_PORT": "0",
            "PIPELINE_NIGHTLY_CRON": CRON,
            "PIPELINE_PUBLISH_WINDOW_SECONDS": str(WINDOW),
            "PIPELINE_SERVED_RUNS_AT_ONCE": str(RUNS_AT_ONCE),
        }
        env.pop("PREFECT_API_URL", None)
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline_flows.cli", "server"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = Output(process)
        try:
            output.wait_for("Ctrl-C stops all three.", 240)
            ui = re.search(r"Prefect UI\s+(\S+)", output.text).group(1)  # type: ignore[union-attr]
            hooks = re.search(r"Webhooks\s+(\S+)/hooks/", output.text).group(1)  # type: ignore[union-attr]
            children = {name: int(pid) for name, pid in re.findall(r"([\w-]+) pid (\d+)", output.text)}
            yield Service(world, settings, f"{ui}/api", hooks, output, children)
        finally:
            _stop(process, output, re.findall(r"[\w-]+ pid (\d+)", output.text))


def _without_file_drops(base: Path) -> Path:
    """The demo registry without its file-drop partner: a pull moves its files away, so a second, sequential
    run over the same emulators could not read them again."""
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    data["partners"] = [p for p in data["partners"] if p["connector"]["kind"] != "files"]
    source = base / "partners.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return source


def _stop(process: subprocess.Popen[str], output: Output, child_pids: list[str]) -> None:
    """SIGTERM to `pipeline server`, as Ctrl-C; it must stop its three children by itself, in bounded time."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    left = [int(pid) for pid in child_pids if _alive(int(pid))]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"`pipeline server` left processes {left} running:\n{output.text}"
    assert process.returncode == 0, output.text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def world_env(service: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    """This process pointed at the demo world and the server, as `pipeline trigger` and a reference run need."""
    for name, value in service.world.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PREFECT_API_URL", service.api)
    return service


def test_nightly_deployment_defaults_to_two_at_night_berlin_time() -> None:
    from pipeline_flows.deployments import deployments

    nightly, ingest, published = deployments(Settings())

    [schedule] = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "Europe/Berlin")
    [trigger] = ingest.triggers
    assert trigger.expect == {"survey.responses.available"}
    assert trigger.match.model_dump() == {"prefect.resource.id": "partner.*"}
    assert trigger.parameters == {"partner_id": "{{ event.resource.id.split('.')[1] }}"}
    assert (nightly.name, ingest.name, published.name) == ("nightly", "ingest-partner", "publish")


@pytest.mark.e2e
def test_ingest_partner_without_a_server_publishes_in_the_same_run(world: demo.Demo, run_settings: Settings) -> None:
    from pipeline_flows.ingest_partner import ingest_partner as ingest_partner_flow

    state = ingest_partner_flow("awo-lu", return_state=True)

    assert state.is_completed(), state.message
    assert "published in this run (no server)" in state.message
    con = duckdb.connect(str(run_settings.db_path), read_only=True)
    try:
        partners = con.execute("select distinct partner_id from core.responses").fetchall()
        n = con.execute("select sum(n_answered) from marts.item_results").fetchone()
    finally:
        con.close()
    assert partners == [("awo-lu",)] and n[0] > 0
    made = release.current(run_settings)
    assert made is not None and made.manifest["partners"][0]["partner_id"] == "awo-lu", "the first release"
    analyst = duckdb.connect(str(run_settings.analyst_db_path), read_only=True)
    try:
        assert analyst.execute("select count(distinct partner_id) from core.responses").fetchone() == (1,)
    finally:
        analyst.close()


@pytest.mark.e2e
def test_server_prints_what_runs_where(service: Service) -> None:
    out = service.output.text

    assert re.search(r"Prefect UI\s+http://127\.0\.0\.1:\d+$", out, re.M)
    assert re.search(r"Webhooks\s+http://127\.0\.0\.1:\d+/hooks/<partner id>", out)
    assert re.search(rf"nightly/nightly\s+cron '{re.escape(CRON)}' Europe/Berlin", out)
    assert "ingest-partner/ingest-partner" in out and "publish/publish" in out
    assert set(service.children) == {"prefect-server", "deployments", "webhooks"}
    assert all(_alive(pid) for pid in service.children.values())


@pytest.mark.e2e
def test_nightly_deployment_exists_with_the_configured_cron_in_berlin_time(service: Service) -> None:
    deployment = requests.get(f"{service.api}/deployments/name/nightly/nightly", timeout=10).json()
    [schedule] = deployment["schedules"]
    planned = until(lambda: service.runs("nightly", ["SCHEDULED"]), "the scheduler plans nightly runs")
    limit = requests.get(f"{service.api}/v2/concurrency_limits/duckdb-writer", timeout=10).json()

    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == (CRON, "Europe/Berlin")
    assert schedule["active"] and not deployment["paused"]
    berlin = [datetime.fromisoformat(r["expected_start_time"]).astimezone(ZoneInfo("Europe/Berlin")) for r in planned]
    assert {(t.hour, t.minute) for t in berlin} == {(3, 30)}
    assert (limit["limit"], limit["active"]) == (1, True)


@pytest.mark.e2e
def test_rejected_webhook_calls_start_no_run(service: Service) -> None:
    now = int(time.time())
    answers = {
        "bad signature": service.call(SILENT, service.signed(SILENT, secret="not-the-partner-secret")),
        "replayed after 6 minutes": service.call(SILENT, service.signed(SILENT, timestamp=now - 360)),
        "unknown partner": service.call("nobody-lu", service.signed(SILENT)),
    }
    # Runs come only from events: once an event sent after the answers is stored, any event these calls made
    # would be stored too (the server's event stream is one ordered queue), and none is.
    service.mark_events()

    assert {what: a.status_code for what, a in answers.items()} == {
        "bad signature": 401,
        "replayed after 6 minutes": 401,
        "unknown partner": 404,
    }
    named = {r["parameters"].get("partner_id") for r in service.runs("ingest-partner")}
    assert not named & {SILENT, "nobody-lu"}
    events = service.api_post(
        "events/filter",
        {"filter": {"event": {"name": ["survey.responses.available"]}, "resource": {"id": ["partner.stadt-lu"]}}},
    )
    assert events["events"] == []


@pytest.mark.e2e
def test_signed_webhook_runs_ingest_partner_once_for_that_partner_then_publishes_its_new_responses(
    world_env: Service, tmp_path: Path
) -> None:
    service, partner = world_env, "caritas-lu"
    fresh = service.add_responses(partner, 6)
    headers = service.signed(partner)
    called = datetime.now().astimezone()
    first = service.call(partner, headers)
    replayed = service.call(partner, headers)

    assert (first.status_code, replayed.status_code) == (202, 409)
    ingested = until(lambda: _finished(service, partner), f"an ingest-partner run for {partner}")
    published = until(lambda: _published_after(service, ingested), "a publish run after the ingest")
    [run] = [r for r in service.runs("ingest-partner") if r["parameters"] == {"partner_id": partner}]
    assert run["id"] == ingested["id"] and ingested["state_type"] == "COMPLETED"
    assert published["state_type"] == "COMPLETED"
    events = service.api_post("events/filter", {"filter": {"event": {"name": ["survey.responses.available"]}}})
    assert first.json()["event_id"] in {e["id"] for e in events["events"]}
    valid = sum(not r.invalid for r in service.world.generated[partner])
    assert _served(service, "select count(*) from core.responses where partner_id = ?", [partner]) == [(valid,)]
    assert all(not r.invalid for r in fresh)
    # the publish run after partner events refreshes the analyst file (a steering release waits for a wave
    # to close or an operator)
    refreshed = datetime.fromtimestamp(service.settings.analyst_db_path.stat().st_mtime).astimezone()
    assert refreshed >= called
    analyst = duckdb.connect(str(service.settings.analyst_db_path), read_only=True)
    try:
        counted = analyst.execute("select count(*) from core.responses where partner_id = ?", [partner]).fetchall()
    finally:
        analyst.close()
    assert counted == [(valid,)]
    _assert_equal_to_a_sequential_run(service, tmp_path)


@pytest.mark.e2e
def test_two_triggers_at_once_both_complete_and_the_tables_equal_one_sequential_run(
    world_env: Service, tmp_path: Path
) -> None:
    service = world_env
    commands = [["trigger"], ["trigger", "--partner", "hwg-lu"]]
    # The test holds the writers back until both runs are running, so they overlap whatever the machine's speed.
    with writer_lock(service.settings.db_path, "the test, holding writers back", 60):
        started = [
            subprocess.Popen([sys.executable, "-m", "pipeline_flows.cli", *c], stdout=subprocess.PIPE, text=True)
            for c in commands
        ]
        printed = [p.communicate(timeout=120)[0] for p in started]
        assert [p.returncode for p in started] == [0, 0], printed
        ids = [re.search(rf"started: {re.escape(service.api[:-4])}/runs/flow-run/([0-9a-f-]+)", out) for out in printed]
        assert all(ids), printed
        nightly_id, ingest_id = (m.group(1) for m in ids)  # type: ignore[union-attr]
        until(
            lambda: all(service.run(i)["state_type"] == "RUNNING" for i in (nightly_id, ingest_id)),
            "both triggered runs are running",
        )
    runs = until(lambda: _all_final(service, [nightly_id, ingest_id]), "both triggered runs finish")
    until(lambda: not service.runs("publish", ACTIVE), "no publish run left to do")

    assert [r["state_type"] for r in runs] == ["COMPLETED", "COMPLETED"], [r["state"]["message"] for r in runs]
    starts, ends = [_at(r["start_time"]) for r in runs], [_at(r["end_time"]) for r in runs]
    assert max(starts) < min(ends), "the two runs did not overlap, so nothing was tested"
    writes = _served(
        service,
        "select started_at, finished_at from ops.runs where run_id in (?, ?) order by started_at",
        [nightly_id, ingest_id],
    )
    assert len(writes) == len(service.world.registry.partners) + 1
    # Partners are pulled at once and only their batches' writes take turns: a second process opening the
    # working file while one writes would fail (DuckDB's own lock), so two completed runs show the turns held.
    _assert_equal_to_a_sequential_run(service, tmp_path)


@pytest.mark.e2e
def test_a_burst_of_partner_events_leads_to_one_publish(world_env: Service, tmp_path: Path) -> None:
    service = world_env
    partners = ["jobcenter-lu", "hwg-lu", "fluechtlingshilfe-lu"]
    for partner in partners:
        service.add_responses(partner, 3)
    publishes_before = {r["id"] for r in service.runs("publish")}
    ingests_before = frozenset(r["id"] for r in service.runs("ingest-partner"))

    # Holding the writers back until the three ingests run keeps them inside one publish window on a slow machine.
    with writer_lock(service.settings.db_path, "the test, holding writers back", 60):
        answers = [service.call(partner, service.signed(partner)) for partner in partners]
        until(
            lambda: len({r["id"] for r in service.runs("ingest-partner", ["RUNNING"])} - ingests_before) == 3,
            "the three ingests are running",
        )
    ingests = [until(lambda p=p: _finished(service, p, ingests_before), f"an ingest of {p}") for p in partners]
    until(lambda: not service.runs("publish", ACTIVE), "no publish run left to do")

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [r["state_type"] for r in ingests] == ["COMPLETED"] * 3
    new = [r for r in service.runs("publish") if r["id"] not in publishes_before]
    assert [r["state_type"] for r in new] == ["COMPLETED"], [r["name"] for r in new]
    assert _at(new[0]["start_time"]) > max(_at(r["end_time"]) for r in ingests)
    _assert_equal_to_a_sequential_run(service, tmp_path)


@pytest.mark.e2e
def test_an_ingest_still_under_way_when_its_publish_is_due_joins_that_publish(
    world_env: Service, tmp_path: Path
) -> None:
    service = world_env
    first, late = "jobcenter-lu", "hwg-lu"
    for partner in (first, late):
        service.add_responses(partner, 3)
    publishes_before = {r["id"] for r in service.runs("publish")}
    ingests_before = frozenset(r["id"] for r in service.runs("ingest-partner"))

    assert service.call(first, service.signed(first)).status_code == 202
    until(lambda: _finished(service, first, ingests_before), f"an ingest of {first}")
    # The second ingest is held back until the publish the first one scheduled is due and running, as ingests
    # spread over more than the window on a slow machine.
    with writer_lock(service.settings.db_path, "the test, holding writers back", 90):
        assert service.call(late, service.signed(late)).status_code == 202
        until(
            lambda: [r for r in service.runs("publish", ["RUNNING"]) if r["id"] not in publishes_before],
            "the publish run is running",
            WINDOW + DEADLINE,
        )
    second = until(lambda: _finished(service, late, ingests_before), f"an ingest of {late}")
    until(lambda: not service.runs("publish", ACTIVE), "no publish run left to do")

    assert second["state_type"] == "COMPLETED", second["state"]["message"]
    new = [r for r in service.runs("publish") if r["id"] not in publishes_before]
    assert [r["state_type"] for r in new] == ["COMPLETED"], [r["name"] for r in new]
    assert f"joins publish run {new[0]['name']}" in second["state"]["message"]
    assert _at(new[0]["start_time"]) < _at(second["end_time"]), "the publish was not running yet: nothing tested"
    _assert_equal_to_a_sequential_run(service, tmp_path)


@pytest.mark.e2e
def test_a_storm_of_calls_during_a_pull_leads_to_one_more_pull_and_a_bounded_number_of_runs(
    world_env: Service,
) -> None:
    service, partner = world_env, "fluechtlingshilfe-lu"
    service.add_responses(partner, 3)
    before = frozenset(r["id"] for r in service.runs("ingest-partner"))

    with _Sampler(service) as sampled:
        with writer_lock(service.settings.db_path, "the test, holding writers back", 60):
            # signed a minute ago, so that no call of the storm has the same signature
            first = service.call(partner, service.signed(partner, timestamp=int(time.time()) - 60))
            # The test holds the file lock, so a run holding the writer slot is inside its pull and stays there.
            until(lambda: _writer_slots(service) == 1, "the first run is in its pull")
            service.add_responses(partner, 4)
            now = int(time.time())
            answers = [service.call(partner, service.signed(partner, timestamp=now - i)) for i in range(STORM)]
            until(
                lambda: len(_new_runs(service, partner, before)) == STORM - 1 or sampled.most_running > RUNS_AT_ONCE,
                "all runs of the storm but one end while the first run pulls",
                DEADLINE + 120,
            )
            assert sampled.most_running <= RUNS_AT_ONCE, f"{sampled.most_running} runs at once"
        until(lambda: len(_new_runs(service, partner, before)) == STORM + 1, "every run of the storm ends")
        until(lambda: not service.runs("publish", ACTIVE), "no publish run left to do")

    assert [a.status_code for a in [first, *answers]] == [202] * (STORM + 1)
    runs = sorted(_new_runs(service, partner, before), key=lambda r: r["created"])
    assert {r["state_type"] for r in runs} == {"COMPLETED"}, [r["state"]["message"] for r in runs]
    ledger = _served(service, "select distinct run_id from ops.runs where partner_id = ?", [partner])
    pulled = {run_id for (run_id,) in ledger} & {r["id"] for r in runs}
    assert runs[0]["id"] in pulled and len(pulled) == 2, "the first run and one more pulled"
    [second] = pulled - {runs[0]["id"]}
    merged = [r["state"]["message"] for r in runs if r["id"] not in {runs[0]["id"], second}]
    assert all(m.startswith(f"merged into run {second}") for m in merged), merged
    valid = sum(not r.invalid for r in service.world.generated[partner])
    assert _served(service, "select count(*) from core.responses where partner_id = ?", [partner]) == [(valid,)]
    assert sampled.most_running <= RUNS_AT_ONCE
    assert sampled.most_to_run > RUNS_AT_ONCE, "never more runs to do than slots: the bound was not tested"


class _Sampler:
    """Counts, twice a second while the block runs, the flow runs running and those running or due to run."""

    def __init__(self, service: Service) -> None:
        self.most_running = self.most_to_run = 0
        self._service = service
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            body = {"flow_runs": {"state": {"type": {"any_": ACTIVE}}}, "limit": 200}
            runs = self._service.api_post("flow_runs/filter", body)
            self.most_running = max(self.most_running, sum(r["state_type"] == "RUNNING" for r in runs))
            self.most_to_run = max(self.most_to_run, sum(_due(r) for r in runs))


def _due(run: dict[str, Any]) -> bool:
    return run["expected_start_time"] is not None and _at(run["expected_start_time"]) <= datetime.now().astimezone()


def _writer_slots(service: Service) -> int:
    return requests.get(f"{service.api}/v2/concurrency_limits/duckdb-writer", timeout=10).json()["active_slots"]


def _new_runs(service: Service, partner: str, seen: frozenset[str]) -> list[dict[str, Any]]:
    """The partner's finished ingest-partner runs that are not among those seen before."""
    runs = service.runs("ingest-partner", list(FINAL))
    return [r for r in runs if r["parameters"].get("partner_id") == partner and r["id"] not in seen]


def _finished(service: Service, partner: str, seen: frozenset[str] = frozenset()) -> dict[str, Any] | None:
    """The first finished ingest-partner run for the partner that is not among those seen before."""
    mine = [r for r in service.runs("ingest-partner") if r["parameters"].get("partner_id") == partner]
    done = [r for r in mine if r["id"] not in seen and r["state_type"] in FINAL]
    return min(done, key=lambda r: r["created"]) if done else None


def _published_after(service: Service, ingested: dict[str, Any]) -> dict[str, Any] | None:
    after = [r for r in service.runs("publish", ["COMPLETED"]) if _at(r["start_time"]) > _at(ingested["end_time"])]
    return after[0] if after else None


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def _all_final(service: Service, run_ids: list[str]) -> list[dict[str, Any]] | None:
    runs = [service.run(run_id) for run_id in run_ids]
    return runs if all(r["state_type"] in FINAL for r in runs) else None


def _served(service: Service, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """Read the served DuckDB file between writes: under the writer lock, read-only."""
    with writer_lock(service.settings.db_path, "test reads", 60):
        con = duckdb.connect(str(service.settings.db_path), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


def _assert_equal_to_a_sequential_run(service: Service, tmp_path: Path) -> None:
    """The served marts and analyst file equal those of the same partners loaded one after the other into a
    fresh file, then the marts and the analyst file rebuilt once."""
    partners = [pid for (pid,) in _served(service, "select distinct partner_id from ops.runs order by 1")]
    reference = Settings(data_dir=tmp_path / "sequential")
    for partner in partners:
        ingest_partner(Context(reference), partner, "sequential")
    build_marts(Context(reference))
    analyst.refresh(Context(reference))
    for mart in MARTS:
        rows = f"select * from marts.{mart} order by all"
        con = duckdb.connect(str(reference.db_path), read_only=True)
        try:
            expected = con.execute(rows).fetchall()
        finally:
            con.close()
        assert _served(service, rows) == expected, mart
        served = _analyst_rows(service.settings, rows)
        assert served == _analyst_rows(reference, rows) == expected, f"analyst file: {mart}"


def _analyst_rows(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.analyst_db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
