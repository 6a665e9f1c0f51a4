"""Bounded work in the nightly flow: a partner that keeps the run waiting holds no lock and delays no other
partner, and one that keeps failing costs the run its budget at most."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prefect.states import State

from pipeline.service.lock import writer_lock
from pipeline.settings import Settings
from tests.conftest import demo_registry_of, query, registry_world
from tests.reliability.proxy import Fault, FaultProxy
from tests.reliability.test_faults import _through

SLOW, QUICK = "hwg-lu", "caritas-lu"
HOLD_SECONDS = 180.0


class GatedProxy(FaultProxy):
    """Holds every request until the test opens the gate (at most HOLD_SECONDS): a partner that answers late."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.reached = threading.Event()
        self.opened = threading.Event()

    def next_fault(self) -> Fault | None:
        self.reached.set()
        self.opened.wait(HOLD_SECONDS)
        return super().next_fault()


def _valid(generated: list) -> int:
    return sum(not response.invalid for response in generated)


def _nightly_in_background(partner_ids: list[str]) -> tuple[threading.Thread, list[State]]:
    from pipeline_flows.nightly import nightly

    states: list[State] = []
    thread = threading.Thread(target=lambda: states.append(nightly(partner_ids, return_state=True)), daemon=True)
    thread.start()
    return thread, states


def _status(partner_id: str) -> str | None:
    """The partner's last status in the ledger, read between the run's writes (under the writer lock)."""
    settings = Settings()
    with writer_lock(settings.db_path, "test", wait_seconds=30):
        rows = query(
            settings, "select status from ops.runs where partner_id = ? order by started_at desc", [partner_id]
        )
    return rows[0][0] if rows else None


def test_a_partner_that_answers_late_holds_no_lock_and_delays_no_other(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        registry_world(settings, tmp_path, monkeypatch, demo_registry_of(SLOW, QUICK)) as world,
        GatedProxy(world.services["kobo"].url) as proxy,
    ):
        _through(proxy, SLOW)
        thread, states = _nightly_in_background([SLOW, QUICK])
        try:
            # Prefect's temporary server runs already (tests/conftest.py); the flow only starts up and plans the pulls
            assert proxy.reached.wait(120), "the slow partner was never asked"
            # while the slow partner keeps the run waiting, the working file is free for others
            with writer_lock(Settings().db_path, "another writer", wait_seconds=10):
                pass
            deadline = time.monotonic() + 60
            while _status(QUICK) != "ok":
                assert time.monotonic() < deadline, f"{QUICK} waited for {SLOW}"
                time.sleep(0.5)
            assert _status(SLOW) == "running"
        finally:
            proxy.opened.set()
            thread.join(HOLD_SECONDS)
    assert states and states[0].is_completed(), states
    for partner_id in (SLOW, QUICK):
        stored = query(settings, "select count(*) from core.responses where partner_id = ?", [partner_id])[0][0]
        assert stored == _valid(world.generated[partner_id])


def test_a_partner_that_keeps_failing_costs_the_run_its_budget_at_most(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_PARTNER_BUDGET_SECONDS", "30")
    monkeypatch.setenv("PIPELINE_HTTP_RETRIES", "1")
    with (
        registry_world(settings, tmp_path, monkeypatch, demo_registry_of(SLOW, QUICK)) as world,
        FaultProxy(world.services["kobo"].url) as proxy,
    ):
        _through(proxy, SLOW)
        proxy.faults.extend(["503"] * 1000)
        started = time.monotonic()
        thread, states = _nightly_in_background([SLOW, QUICK])
        thread.join(HOLD_SECONDS)
        took = time.monotonic() - started
    assert states, "the run did not end"
    # the marts and the release come after the partners: a budget of 30 s leaves them ample time in 90 s
    assert took < 90, f"the failing partner cost {took:.0f} s"
    assert states[0].is_failed() and SLOW in str(states[0].message)
    # one attempt of two requests (one HTTP retry), then one more as the budget leaves time for it, no third
    assert proxy.requests == 4
    stored = query(settings, "select count(*) from core.responses where partner_id = ?", [QUICK])[0][0]
    assert stored == _valid(world.generated[QUICK])
