"""The publish flow (rebuild the marts, refresh the analyst file, publish a release when there is news) and how
partner ingests close together share one run of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments import run_deployment
from prefect.states import Completed, State

from flows.tasks import publish_release, refresh_analyst_file, transform
from flows.writer import against_server, sole_writer
from pipeline.publish import Publication, When
from pipeline.settings import Settings

DEPLOYMENT = "publish/publish"


@flow(name="publish")
def publish_flow(when: When = "wave_closed") -> State:
    """After partner events: the analyst file always, the steering release only when a wave closed since the
    last one (`when="changed"`, as an operator asks for it from the UI or `pipeline publish`, also on news)."""
    marts = transform()
    analyst_file = refresh_analyst_file()
    outcome = publish_release(when)
    create_markdown_artifact(_report(outcome), key="publication-report", description="Published release")
    return Completed(message=f"marts {', '.join(marts)} rebuilt; analyst file {analyst_file}; {outcome.message}")


def _report(outcome: Publication) -> str:
    if outcome.release is None:
        return outcome.message
    lines = [outcome.message, "", "| table | rows | hidden cells |", "|---|---:|---:|"]
    tables = outcome.release.manifest.get("tables", {})
    lines += [f"| {name} | {t['rows']} | {t['hidden_cells']} |" for name, t in tables.items()]
    return "\n".join(lines)


def request_publish(settings: Settings) -> str:
    """Have what was just loaded published: join the publish run that is waiting to start, or schedule one
    `publish_window_seconds` from now.

    A burst of partner events thus costs one publish, not one each, and nothing is left unpublished: a run
    still Scheduled has not read anything yet, and it reads only under the writer lock, after this ingest's
    commit. The check and the creation happen under the writer lock too, so two ingests finishing together
    cannot both schedule one. Without a server there is no deployment to hand it to: it runs here and now.
    """
    if not against_server():
        publish_flow()
        return "published in this run (no server)"
    with sole_writer(settings, "request a publish"), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        waiting = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=1,
        )
        if waiting:
            message = f"joins publish run {waiting[0].name}, due at {waiting[0].expected_start_time:%H:%M:%S} UTC"
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
