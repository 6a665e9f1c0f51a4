"""The ingest-partner flow: one partner now (on its webhook's event, from the CLI or the UI), then a publish.

A storm of calls for one partner must not become a storm of pulls: the receiver emits an event per valid call
and the server creates a run per event, faster than runs end. So a run first takes its turn (`_take_turn`):
it merges into an earlier run of the partner that has not begun to pull, or waits while another one pulls.
At most one run pulls a partner and at most one more waits to pull after it; every later call merges into
that one, whose pull begins after the call arrived and so fetches what the call announced.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from pipeline.context import Context
from pipeline.service.lock import writer_lock
from pipeline.settings import Settings
from pipeline_flows.publish import INGEST_FLOW, request_publish
from pipeline_flows.tasks import ingest_each, report
from pipeline_flows.writer import against_server

# Tags an ingest-partner run gets when it takes its turn: it pulls now, or another run does its work.
PULLING = "pulling"
MERGED = "merged"
_ACTIVE = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]


@flow(name=INGEST_FLOW, flow_run_name="ingest-{partner_id}")
def ingest_partner(partner_id: str) -> State:
    """Pull what is new at the partner; publish only when something changed (or a failure may have left part
    of a pull loaded), so a call that finds nothing new ends within seconds."""
    ctx = Context.from_environment()
    settings = ctx.settings
    ctx.registry.partner(partner_id)
    if against_server() and (merged_into := _take_turn(settings, partner_id)) is not None:
        return Completed(message=f"merged into run {merged_into}, which has not begun to pull {partner_id} yet")
    run_id = str(flow_run.get_id() or uuid.uuid4())
    outcome = ingest_each(ctx, [partner_id], run_id)[partner_id]
    create_markdown_artifact(
        report({partner_id: outcome}), key="ingest-partner-report", description=f"Counts for {partner_id}"
    )
    reason = outcome.reason(partner_id)
    if reason is not None:
        return Failed(message=f"{reason}; {request_publish(settings)}")
    run = outcome.state.result()
    counts = f"{partner_id}: fetched {run.fetched}, loaded {run.loaded}, quarantined {run.quarantined}"
    if run.loaded == 0:
        return Completed(message=f"{counts}; nothing new to publish")
    return Completed(message=f"{counts}; {request_publish(settings)}")


def _take_turn(settings: Settings, partner_id: str) -> str | None:
    """Return the id of the earlier run of the partner this run merges into, or None once it may pull.

    Each decision is taken under a lock of the partner's (the kernel's, beside the DuckDB file) and written as
    a tag before the lock is released, so two runs starting together cannot both pull, and a run that merged
    is never merged into. The run merged into is the earliest that waits: its state only moves on from there,
    so it is still waiting when the runs merged into it are decided. A run that waited `writer_wait_seconds`
    for another one's pull pulls anyway: that one may have died without reaching a final state.
    """
    me = flow_run.get_id()
    deadline = time.monotonic() + settings.writer_wait_seconds
    announced = False
    gate = settings.data_dir / f"ingest-{partner_id}"
    with get_client(sync_client=True) as client:
        while True:
            with writer_lock(gate, f"run {me}, taking its turn", settings.writer_wait_seconds):
                runs = _runs_of(client, partner_id)
                mine = next((r for r in runs if str(r.id) == str(me)), None) or client.read_flow_run(me)
                waiting = [r for r in runs if _order(r) < _order(mine) and not {PULLING, MERGED} & set(r.tags)]
                if waiting:
                    client.update_flow_run(mine.id, tags=[*mine.tags, MERGED])
                    return str(waiting[0].id)
                pulling = [r for r in runs if r.id != mine.id and PULLING in r.tags]
                if not pulling or time.monotonic() >= deadline:
                    client.update_flow_run(mine.id, tags=[*mine.tags, PULLING])
                    return None
            if not announced:
                get_run_logger().info(
                    "waiting for run %s to finish its pull of %s; calls until then merge into this run",
                    pulling[0].id,
                    partner_id,
                )
                announced = True
            time.sleep(1)


def _runs_of(client: SyncPrefectClient, partner_id: str) -> list[FlowRun]:
    """The partner's ingest-partner runs that are running, starting, or due to start, earliest created first."""
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[INGEST_FLOW])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_ACTIVE)),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
    )
    return sorted((r for r in runs if r.parameters.get("partner_id") == partner_id), key=_order)


def _order(run: FlowRun) -> tuple[datetime, str]:
    return (run.created or datetime.min.replace(tzinfo=UTC), str(run.id))
