"""The publish flow (rebuild the marts, publish them) and how partner ingests close together share one run of it."""

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

from flows.tasks import publish_marts, transform
from flows.writer import against_server, sole_writer
from pipeline.publish import Publication
from pipeline.settings import Settings

DEPLOYMENT = "publish/publish"


@flow(name="publish")
def publish_flow() -> State:
    marts = transform()
    publication = publish_marts()
    create_markdown_artifact(_report(publication), key="publication-report", description="Published tables")
    return Completed(message=f"marts {', '.join(marts)} rebuilt; published to {publication.directory}")


def _report(publication: Publication) -> str:
    lines = ["| table | rows with hidden cells |", "|---|---:|"]
    lines += [f"| {name} | {hidden} |" for name, hidden in publication.suppressed.items()]
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
