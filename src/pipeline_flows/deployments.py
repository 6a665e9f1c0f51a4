"""The deployments `pipeline server` serves, the process serving them, and `pipeline trigger`.

Served with `serve()` from one process of this project rather than through a work pool and a worker: the
flows run where the code, the DuckDB file and the partners' secrets already are, and one machine needs no
pool, no worker and no code storage to keep in step. A worker becomes worth it once runs must go elsewhere
(containers, another host). Each run is a process of its own, so the process serves at most
`served_runs_at_once` of them at a time; the others stay scheduled until one ends.

Run as `python -m pipeline_flows.deployments` (which is what `pipeline server` starts) with PREFECT_API_URL set.
"""

from __future__ import annotations

import httpx
from prefect import serve
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron
from prefect.settings import get_current_settings
from prefect.utilities.urls import url_for

from pipeline.context import Context
from pipeline.errors import PipelineError
from pipeline.service.webhooks import EVENT, resource_id
from pipeline.settings import Settings
from pipeline_flows.ingest_partner import ingest_partner
from pipeline_flows.nightly import nightly
from pipeline_flows.publish import publish_flow
from pipeline_flows.writer import WRITER_LIMIT

NIGHTLY = "nightly/nightly"
INGEST_PARTNER = "ingest-partner/ingest-partner"


class ServerUnavailable(PipelineError):
    """No Prefect server answered, or it does not serve the deployment asked for."""


def deployments(settings: Settings) -> list[RunnerDeployment]:
    # Module paths, not file paths: the runner finds the flows wherever it is started from.
    module = EntrypointType.MODULE_PATH
    return [
        nightly.to_deployment(
            "nightly",
            schedules=[Cron(settings.nightly_cron, timezone=settings.timezone)],
            description="Every partner, then the marts and the publication.",
            entrypoint_type=module,
        ),
        ingest_partner.to_deployment(
            "ingest-partner",
            triggers=[
                DeploymentEventTrigger(
                    name="partner signalled new responses",
                    expect={EVENT},
                    match={"prefect.resource.id": resource_id("*")},
                    parameters={"partner_id": "{{ event.resource.id.split('.')[1] }}"},
                )
            ],
            description=f"One partner, on its {EVENT} event or by hand, then a publish shared per window.",
            entrypoint_type=module,
        ),
        publish_flow.to_deployment(
            "publish",
            description="Rebuild the marts and publish them; requested by partner ingests.",
            entrypoint_type=module,
        ),
    ]


def main() -> None:
    settings = Settings()
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(WRITER_LIMIT, 1)
    # One process per flow run: unbounded, a storm of partner calls once took 22 GB.
    serve(*deployments(settings), limit=settings.served_runs_at_once)


def trigger(ctx: Context, partner_ids: list[str] | None) -> list[str]:
    """Start runs on the server now: the nightly run, or one ingest-partner run per partner named. Returns the
    runs' addresses in the UI."""
    if get_current_settings().api.url is None:
        raise ServerUnavailable("PREFECT_API_URL is not set: point it at the server `pipeline server` started")
    if partner_ids:
        for partner_id in partner_ids:
            ctx.registry.partner(partner_id)
        requests = [(INGEST_PARTNER, {"partner_id": partner_id}) for partner_id in partner_ids]
    else:
        requests = [(NIGHTLY, {})]
    return [_start(name, parameters) for name, parameters in requests]


def _start(deployment: str, parameters: dict[str, str]) -> str:
    api = get_current_settings().api.url
    try:
        run = run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False)
    except ObjectNotFound as exc:
        raise ServerUnavailable(
            f"the Prefect server at {api} has no deployment {deployment}: is `pipeline server` running there?"
        ) from exc
    except httpx.HTTPError as exc:
        raise ServerUnavailable(
            f"no Prefect server answers at {api} ({type(exc).__name__}): start one with `pipeline server`, "
            "or point PREFECT_API_URL at the one that runs"
        ) from exc
    return url_for(run) or f"flow run {run.id}"


if __name__ == "__main__":
    main()
