"""One partner's ingest in one run: pull page by page, load each batch, and account for it in the runs ledger.

The working file is held only while something is written: the pull itself waits on the partner (slow pages,
Retry-After, retries) without the writer lock, so other runs and partners write meanwhile, and each batch
takes the lock, a connection and one transaction to load.

Closing the connection checkpoints. The checkpoint of a batch within the pull merges no row groups: each batch
adds small ones, and merging them rewrote the last row group of raw.records (responses as JSON) every few
batches, which at 1M responses took seconds and most of DuckDB's memory limit. The partner's last step merges
what its batches added, once.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from pipeline.context import Context
from pipeline.contract import drift
from pipeline.errors import PipelineError
from pipeline.extract import Connector, Page
from pipeline.load import runs
from pipeline.load.loader import PartnerLoader, gone_at_partner, record_full_read, start_from
from pipeline.registry import Partner
from pipeline.service.lock import Writer, file_writer

Writing = Callable[..., AbstractContextManager[duckdb.DuckDBPyConnection]]


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
    started = datetime.now(UTC)
    run: runs.PartnerRun | None = None
    recorded = False
    # Opening the working file costs more than most steps do in it (a night with nothing new is mostly opens):
    # one step before the pull, one per full batch, and one for the last batch with the run's end.
    try:
        with writing() as con:
            runs.mark_interrupted(con, settings.sql_dir, partner.id)
            run = runs.resume(con, run_id, partner.id)
            runs.record(con, settings.sql_dir, run)
            loader = PartnerLoader(con, ctx, partner, run)
            start = start_from(con, loader.source, partner.connector.reread_days, started)
        connector = partner.connector.open(
            partner.id, partner.secret(), settings, partner.identifier_fields, until=until
        )
        full = start is None and partner.connector.reread_days is not None
        listed: list[pa.ChunkedArray] = []  # a full read's source ids: what is not among them is gone
        batch: list[Page] = []
        with closing(_prefetched(connector.pull(start), settings.prefetch_pages, partner.id)) as pages:
            for page in pages:
                if full:
                    listed.append(page.records.column("source_id"))
                batch.append(page)
                if sum(p.records.num_rows for p in batch) >= settings.batch_rows:
                    with writing(merge=False) as con:
                        _load(con, loader, batch, connector)
                    batch = []
        with writing() as con:
            if batch:
                _load(con, loader, batch, connector)
            if full:
                run.add_gone(gone_at_partner(con, settings.sql_dir, loader.source, listed))
                record_full_read(con, settings.sql_dir, partner.id, started)
            run.finish()
            _ended(con, ctx, partner, run)
            recorded = True
    except PipelineError as exc:
        if run is not None:
            run.finish(str(exc))
        raise
    except Exception as exc:
        # A defect rather than a partner's problem: still on the record, with the partner it hit.
        if run is not None:
            run.finish(f"partner {partner.id}: unexpected {type(exc).__name__}: {exc}")
        raise
    finally:
        if run is not None and not recorded:
            with writing() as con:
                _ended(con, ctx, partner, run)
    return run


def _ended(con: duckdb.DuckDBPyConnection, ctx: Context, partner: Partner, run: runs.PartnerRun) -> None:
    """The run's record as it ended, and the drift it showed (on the run, for the report)."""
    runs.record(con, ctx.settings.sql_dir, run)
    found = drift.report(con, ctx.settings.sql_dir, partner.id, run_id=run.run_id)
    run.drift = drift.lines(found, {partner.id: partner})


def _writing(ctx: Context, writer: Writer, holder: str) -> Writing:
    """The writer's right and a connection, for one step: both end with it; merge=False leaves the row groups
    the step adds unmerged at its checkpoint."""

    @contextmanager
    def writing(merge: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        with writer(holder):
            con = ctx.connect()
            try:
                if not merge:
                    con.execute("set max_vacuum_tasks = 0")
                yield con
            finally:
                con.close()

    return writing


def _load(con: duckdb.DuckDBPyConnection, loader: PartnerLoader, batch: list[Page], connector: Connector) -> None:
    """One batch in its transaction; the connector hears of it once committed (a drop folder archives its files)."""
    loader.attach(con)
    loader.load(batch, connector)
    connector.loaded(batch)


def _prefetched(pages: Iterator[Page], depth: int, partner_id: str) -> Generator[Page, None, None]:
    """The pages, pulled by a thread of their own up to `depth` ahead of the caller: the pull waits on the
    partner and the load on DuckDB, so each goes on while the other waits (issue 26). The pull's error is
    raised here, where the page it did not deliver would have been; when the caller stops early, the pull stops
    after the request in flight (its deadline bounds the wait). A depth of 0 pulls in the caller's thread."""
    if depth == 0:
        yield from pages
        return
    ahead: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand(item: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pull() -> None:
        try:
            for page in pages:
                if not hand(("page", page)):
                    return
            hand(("end", None))
        except BaseException as exc:  # handed to the caller, who raises it
            hand(("error", exc))
        finally:
            close = getattr(pages, "close", None)  # a generator's own clean-up (its scratch files, sessions)
            if close is not None:
                close()

    # the caller's context (a Prefect run's logger, settings overrides) goes with the pull
    worker = threading.Thread(
        target=contextvars.copy_context().run, args=(pull,), name=f"pull {partner_id}", daemon=True
    )
    worker.start()
    try:
        while True:
            kind, item = ahead.get()
            if kind == "end":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()
