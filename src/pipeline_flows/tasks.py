"""The tasks the flows share (a partner's ingest; the marts, analyst file and publication after it) and the run
report."""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State

from pipeline.context import Context
from pipeline.errors import PartnerUnreachable, PipelineError
from pipeline.load.ingest import ingest_partner
from pipeline.load.runs import PartnerRun, gone_note
from pipeline.publish import Refreshed, When, publish_all
from pipeline_flows.writer import sole_writer

# The wait before a partner's next attempt; attempts stop when the next would begin beyond its budget.
RETRY_SECONDS = 20


def _spent(task_run: TaskRun) -> float:
    """Seconds since the partner's first attempt began (Prefect keeps a task run's start_time across retries)."""
    started = task_run.start_time
    return 0.0 if started is None else (datetime.now(UTC) - started).total_seconds()


def _transient(budget: float, task: object, task_run: TaskRun, state: State) -> bool:
    """Retry only when the partner could not be reached and its budget (seconds) leaves time for another
    attempt; a rejected token or a bad payload will not heal."""
    return isinstance(state.data, PartnerUnreachable) and _spent(task_run) + RETRY_SECONDS < budget


@task(
    name="ingest-partner",
    task_run_name="ingest-{partner_id}",
    retries=2,
    retry_delay_seconds=RETRY_SECONDS,
    cache_policy=NO_CACHE,
)
def ingest(ctx: Context, partner_id: str, run_id: str) -> PartnerRun:
    """The writer's right is taken per batch (see pipeline.load.ingest): partners pulled at once load in turn. The
    partner is asked nothing once its budget, counted from its first attempt, is spent."""
    settings = ctx.settings
    task_run = TaskRunContext.get().task_run  # type: ignore[union-attr]
    until = time.monotonic() + settings.partner_budget_seconds - _spent(task_run)
    run = ingest_partner(ctx, partner_id, run_id, writer=lambda holder: sole_writer(settings, holder), until=until)
    get_run_logger().info(
        "%s: fetched %d, inserted %d, updated %d, unchanged %d, quarantined %d, duplicates %d",
        partner_id, run.fetched, run.inserted, run.updated, run.unchanged, run.quarantined, run.duplicates,
    )  # fmt: skip
    return run


@task(name="refresh-and-publish", cache_policy=NO_CACHE)
def refresh_and_publish(ctx: Context, when: When) -> Refreshed:
    """The marts, the analyst file, and a new steering release when there is news (see pipeline.publish.When);
    a refused audit fails the task."""
    settings = ctx.settings
    refreshed = publish_all(ctx, when, writer=lambda holder: sole_writer(settings, holder))
    get_run_logger().info(refreshed.message)
    return refreshed


@dataclass(frozen=True)
class Outcome:
    """A partner's ingest in a run: its final task state and how long it took, retries and waits included."""

    state: State
    seconds: float

    def reason(self, partner_id: str) -> str | None:
        """The one line an operator reads when the partner failed; the project's errors name the partner."""
        if not self.state.is_failed():
            return None
        exc = self.state.result(raise_on_failure=False)
        if isinstance(exc, PipelineError):
            return str(exc)
        if isinstance(exc, BaseException):
            return f"partner {partner_id}: {exc!r}"
        return f"partner {partner_id}: {self.state.message}"


def ingest_each(ctx: Context, partner_ids: list[str], run_id: str) -> dict[str, Outcome]:
    """Ingest the partners, `partners_at_once` of them at a time; one failing or slow does not stop the others.

    Each runs as a task of the calling flow in a thread of its own (the flow's context copied to it, as Prefect's
    thread pool task runner does), timed there, so a partner's duration leaves out its wait for a thread."""

    attempt = ingest.with_options(retry_condition_fn=partial(_transient, ctx.settings.partner_budget_seconds))

    def timed(partner_id: str) -> Outcome:
        started = time.monotonic()
        state = attempt(ctx, partner_id, run_id, return_state=True)
        return Outcome(state, time.monotonic() - started)

    at_once = ctx.settings.partners_at_once
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="ingest") as pool:
        futures = {pid: pool.submit(contextvars.copy_context().run, timed, pid) for pid in partner_ids}
    return {pid: future.result() for pid, future in futures.items()}


def report(outcomes: dict[str, Outcome]) -> str:
    """The run's artifact: a markdown table with a row per partner, then the responses a full read no longer
    found at their partner (deleted there: the operator decides whether to erase them)."""
    lines = [
        "| partner | fetched | inserted | updated | unchanged | quarantined | duplicates | gone | duration s | error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    notes = []
    for pid, outcome in outcomes.items():
        seconds = f"{outcome.seconds:.1f}"
        reason = outcome.reason(pid)
        if reason is not None:
            lines.append(f"| {pid} | | | | | | | | {seconds} | {reason} |")
            continue
        r: PartnerRun = outcome.state.result()
        gone = "" if r.gone is None else str(r.gone)
        lines.append(
            f"| {pid} | {r.fetched} | {r.inserted} | {r.updated} | {r.unchanged} | {r.quarantined} "
            f"| {r.duplicates} | {gone} | {seconds} | |"
        )
        if r.gone:
            notes.append(gone_note(pid, r.gone, r.gone_ids))
    return "\n".join([*lines, *(["", *notes] if notes else [])])
