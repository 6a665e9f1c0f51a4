"""One partner's ingest in one run: pull page by page, load each batch, and account for it in the runs ledger.

The working file is held only while something is written: the pull itself waits on the partner (slow pages,
Retry-After, retries) without the writer lock, so other runs and partners write meanwhile, and each batch
takes the lock, a connection and one transaction to load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from pipeline.context import Context
from pipeline.contract import drift
from pipeline.errors import PipelineError
from pipeline.extract import Connector, Page
from pipeline.load import runs
from pipeline.load.loader import PartnerLoader, gone_at_partner, record_full_read, start_from
from pipeline.service.lock import Writer, file_writer

Writing = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


def ingest_partner(
    ctx: Context, partner_id: str, run_id: str, writer: Writer | None = None, until: float | None = None
) -> runs.PartnerRun:
    """Pull what is new at the partner since its cursor and load it (everything, when the connector's
    `reread_days` have passed since the last full read: edits the tool cannot list are seen then).

    The run is recorded whether it succeeds or not; on failure the error (naming the partner) is stored and
    raised again, and every batch loaded before it stays loaded, its cursor included. The partner's earlier runs
    whose process died before they finished are marked interrupted first. writer: what holds the right to write
    (file_writer by default); until: the time.monotonic() after which the partner is asked nothing more (its
    budget in the run), None for no bound.
    """
    settings = ctx.settings
    partner = ctx.registry.partner(partner_id)
    writing = _writing(ctx, writer or file_writer(settings), f"ingest {partner.id} (run {run_id})")
    with writing() as con:
        runs.mark_interrupted(con, settings.sql_dir, partner.id)
        run = runs.resume(con, run_id, partner.id)
        runs.record(con, settings.sql_dir, run)
    try:
        connector = partner.connector.open(
            partner.id, partner.secret(), settings, partner.identifier_fields, until=until
        )
        started = datetime.now(UTC)
        with writing() as con:
            loader = PartnerLoader(con, ctx, partner, run, omits_unanswered=connector.omits_unanswered)
            start = start_from(con, loader.source, partner.connector.reread_days, started)
        full = start is None and partner.connector.reread_days is not None
        listed: list[pa.ChunkedArray] = []  # a full read's source ids: what is not among them is gone
        batch: list[Page] = []
        for page in connector.pull(start):
            if full:
                listed.append(page.records.column("source_id"))
            batch.append(page)
            if sum(p.records.num_rows for p in batch) >= settings.batch_rows:
                _load(writing, loader, batch, connector)
                batch = []
        if batch:
            _load(writing, loader, batch, connector)
        if full:
            with writing() as con:
                run.add_gone(gone_at_partner(con, settings.sql_dir, loader.source, listed))
                record_full_read(con, settings.sql_dir, partner.id, started)
        run.finish()
    except PipelineError as exc:
        run.finish(str(exc))
        raise
    except Exception as exc:
        # A defect rather than a partner's problem: still on the record, with the partner it hit.
        run.finish(f"partner {partner.id}: unexpected {type(exc).__name__}: {exc}")
        raise
    finally:
        with writing() as con:
            runs.record(con, settings.sql_dir, run)
            found = drift.report(con, settings.sql_dir, partner.id, run_id=run.run_id)
        run.drift = drift.lines(found, {partner.id: partner})
    return run


def _writing(ctx: Context, writer: Writer, holder: str) -> Writing:
    """The writer's right and a connection, for one step: both end with it."""

    @contextmanager
    def writing() -> Iterator[duckdb.DuckDBPyConnection]:
        with writer(holder):
            con = ctx.connect()
            try:
                yield con
            finally:
                con.close()

    return writing


def _load(writing: Writing, loader: PartnerLoader, batch: list[Page], connector: Connector) -> None:
    with writing() as con:
        loader.attach(con)
        loader.load(batch, connector)
    connector.loaded(batch)
