"""The ingest-partner flow: one partner now (on its webhook's event, from the CLI or the UI), then a publish."""

from __future__ import annotations

import uuid

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from flows.publish import INGEST_FLOW, request_publish
from flows.tasks import ingest_each, report
from pipeline.codebook import load_codebook
from pipeline.registry import load_registry
from pipeline.settings import Settings


@flow(name=INGEST_FLOW, flow_run_name="ingest-{partner_id}")
def ingest_partner(partner_id: str) -> State:
    """Pull what is new at the partner; publish only when something changed (or a failure may have left part
    of a pull loaded), so a call that finds nothing new ends within seconds."""
    settings = Settings()
    registry = load_registry(settings.partners_file, load_codebook(settings.codebook_file), check_secrets=False)
    registry.partner(partner_id)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    outcome = ingest_each([partner_id], run_id)[partner_id]
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
