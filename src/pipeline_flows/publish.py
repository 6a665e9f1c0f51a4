"""The publish flow (rebuild the marts, refresh the analyst file, publish a release when there is news) and how
partner ingests close together share one run of it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.runtime import flow_run
from prefect.states import Completed, State

from pipeline.context import Context
from pipeline.publish import Publication, When
from pipeline.settings import Settings
from pipeline_flows.tasks import refresh_and_publish
from pipeline_flows.writer import against_server, sole_writer

DEPLOYMENT = "publish/publish"
INGEST_FLOW = "ingest-partner"
# On a publish run once it starts to read: an ingest that finishes later schedules the next publish.
READING = "reading"
_WAITING = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]


@flow(name="publish")
def publish_flow(when: When = "wave_closed") -> State:
    """After partner events: the analyst file always, the steering release only when a wave closed since the
    last one (`when="changed"`, as an operator asks for it from the UI or `pipeline publish`, also on news)."""
    ctx = Context.from_environment()
    if against_server():
        _let_ingests_finish(ctx.settings)
    refreshed = refresh_and_publish(ctx, when)
    create_markdown_artifact(_report(refreshed.publication), key="publication-report", description="Published release")
    return Completed(message=refreshed.message)


def _report(outcome: Publication) -> str:
    if outcome.release is None:
        return outcome.message
    lines = [outcome.message, "", "| table | rows | hidden cells |", "|---|---:|---:|"]
    tables = outcome.release.manifest.get("tables", {})
    lines += [f"| {name} | {t['rows']} | {t['hidden_cells']} |" for name, t in tables.items()]
    return "\n".join(lines)


def _let_ingests_finish(settings: Settings) -> None:
    """Before it reads, a publish run lets the partner ingests that are under way finish (at most one more
    window), then marks itself as reading.

    Those ingests join this run (see `request_publish`) instead of scheduling the next one, so a burst that
    spreads wider than the window on a slow machine still costs one publish. The mark comes before the read:
    an ingest that finishes after it schedules its own publish, so nothing it loaded is left unpublished.
    """
    deadline = time.monotonic() + settings.publish_window_seconds
    logged: set[str] = set()
    with get_client(sync_client=True) as client:
        while (busy := _ingests_under_way(client)) and time.monotonic() < deadline:
            names = {run.name for run in busy}
            if names - logged:
                get_run_logger().info("waiting for %s to finish before reading", ", ".join(sorted(names)))
                logged |= names
            time.sleep(1)
        run = client.read_flow_run(flow_run.get_id())
        client.update_flow_run(run.id, tags=[*run.tags, READING])


def _ingests_under_way(client: SyncPrefectClient) -> list[FlowRun]:
    """Partner ingests running, starting, or due to start."""
    runs = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[INGEST_FLOW])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_WAITING))),
    )
    now = datetime.now(UTC)
    return [r for r in runs if r.state_type != StateType.SCHEDULED or (r.expected_start_time or now) <= now]


def request_publish(settings: Settings) -> str:
    """Have what was just loaded published: join the publish run that has not started to read yet, or
    schedule one `publish_window_seconds` from now.

    A burst of partner events thus costs one publish, not one each, and nothing is left unpublished: a run
    without the mark READING has not read anything yet, and it reads after this ingest's commit. The check
    and the creation happen under the writer lock, so two ingests finishing together cannot both schedule
    one. Without a server there is no deployment to hand it to: it runs here and now.
    """
    if not against_server():
        publish_flow()
        return "published in this run (no server)"
    with sole_writer(settings, "request a publish"), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_WAITING))),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        )
        waiting = [run for run in runs if READING not in run.tags]
        if waiting and waiting[0].state_type == StateType.SCHEDULED:
            message = f"joins publish run {waiting[0].name}, due at {waiting[0].expected_start_time:%H:%M:%S} UTC"
        elif waiting:
            message = f"joins publish run {waiting[0].name}, which waits for the ingests under way before it reads"
        else:
            at = datetime.now(UTC) + timedelta(seconds=settings.publish_window_seconds)
            run = run_deployment(
                DEPLOYMENT,
                scheduled_time=at,
                flow_run_name=f"publish-{at:%Y%m%d-%H%M%S}",
                timeout=0,
                as_subflow=False,
            )
            message = f"scheduled publish run {run.name} for {at:%H:%M:%S} UTC; ingests until then join it"
    get_run_logger().info(message)
    return message
