"""The nightly flow: ingest every partner (one task each), rebuild the marts, publish."""

from __future__ import annotations

import uuid

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from pipeline.codebook import load_codebook
from pipeline.errors import PartnerUnreachable, PipelineError
from pipeline.ingest import ingest_partner
from pipeline.publish import publish
from pipeline.registry import load_registry
from pipeline.runs import PartnerRun
from pipeline.settings import Settings
from pipeline.transform import build_marts


def _transient(task: object, task_run: TaskRun, state: State) -> bool:
    """Retry only when the partner could not be reached; a rejected token or a bad payload will not heal."""
    return isinstance(state.data, PartnerUnreachable)


@task(
    name="ingest-partner",
    task_run_name="ingest-{partner_id}",
    retries=2,
    retry_delay_seconds=[30, 300],
    retry_condition_fn=_transient,
)
def ingest(partner_id: str, run_id: str) -> PartnerRun:
    run = ingest_partner(Settings(), partner_id, run_id)
    get_run_logger().info(
        "%s: fetched %d, inserted %d, updated %d, unchanged %d, quarantined %d, duplicates %d",
        partner_id, run.fetched, run.inserted, run.updated, run.unchanged, run.quarantined, run.duplicates,
    )  # fmt: skip
    return run


@task(name="transform")
def transform() -> list[str]:
    return build_marts(Settings())


@task(name="publish")
def publish_marts() -> str:
    return str(publish(Settings()).directory)


@flow(name="nightly")
def nightly(partner_ids: list[str] | None = None) -> State:
    """Every partner (or the ones named) in turn; a failing partner does not stop the others, but the run
    ends Failed naming each failed partner and its reason."""
    settings = Settings()
    registry = load_registry(settings.partners_file, load_codebook(settings.codebook_file), check_secrets=False)
    ids = partner_ids or [p.id for p in registry.partners]
    for partner_id in ids:
        registry.partner(partner_id)
    run_id = str(flow_run.get_id() or uuid.uuid4())
    states = {pid: ingest(pid, run_id, return_state=True) for pid in ids}
    transform()
    published = publish_marts()
    failures = {pid: _reason(pid, state) for pid, state in states.items() if state.is_failed()}
    create_markdown_artifact(_report(states, failures), key="nightly-run-report", description="Counts per partner")
    if failures:
        return Failed(message="; ".join(failures.values()))
    return Completed(message=f"{len(ids)} partners loaded; published to {published}")


def _reason(partner_id: str, state: State) -> str:
    """The one line an operator reads; the project's errors already name the partner."""
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, PipelineError):
        return str(exc)
    return (
        f"partner {partner_id}: {exc!r}" if isinstance(exc, BaseException) else f"partner {partner_id}: {state.message}"
    )


def _report(states: dict[str, State], failures: dict[str, str]) -> str:
    lines = [
        "| partner | fetched | inserted | updated | unchanged | quarantined | duplicates | error |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for pid, state in states.items():
        if pid in failures:
            lines.append(f"| {pid} | | | | | | | {failures[pid]} |")
            continue
        r: PartnerRun = state.result()
        lines.append(
            f"| {pid} | {r.fetched} | {r.inserted} | {r.updated} | {r.unchanged} | {r.quarantined} | {r.duplicates} | |"
        )
    return "\n".join(lines)
