"""The nightly flow: ingest every partner (one task each), then the marts, the analyst file and a release."""

from __future__ import annotations

import uuid

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from pipeline.context import Context
from pipeline.settings import Settings
from pipeline_flows.tasks import ingest_each, refresh_and_publish, report


@flow(name="nightly")
def nightly(partner_ids: list[str] | None = None, settings: Settings | None = None) -> State:
    """Every partner (or the ones named) in turn; a failing partner does not stop the others, but the run
    ends Failed naming each failed partner and its reason. settings: those of the environment when None (as
    the server's deployments run it)."""
    ctx = Context(settings or Settings())
    ids = partner_ids or [p.id for p in ctx.registry.partners]
    for partner_id in ids:
        ctx.registry.partner(partner_id)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    outcomes = ingest_each(ctx, ids, run_id)
    published = refresh_and_publish(ctx, "changed", return_state=True)
    create_markdown_artifact(report(outcomes), key="nightly-run-report", description="Counts per partner")
    failures = [reason for pid, outcome in outcomes.items() if (reason := outcome.reason(pid)) is not None]
    if published.is_failed():
        failures.append(str(published.result(raise_on_failure=False)))
    if failures:
        return Failed(message="; ".join(failures))
    return Completed(message=f"{len(ids)} partners loaded; {published.result().publication.message}")
