"""One writer at a time in the flows: a Prefect concurrency slot where a server runs, the file lock always."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from prefect import get_run_logger
from prefect.concurrency.sync import concurrency
from prefect.settings import get_current_settings

from pipeline.service.lock import WriterLockTimeout, writer_lock
from pipeline.settings import Settings

# The global concurrency limit (limit 1) that `pipeline server` creates; waiting runs show on it in the UI.
WRITER_LIMIT = "duckdb-writer"


def against_server() -> bool:
    """True when runs report to a Prefect server (PREFECT_API_URL), False in ephemeral mode (`pipeline run`)."""
    return get_current_settings().api.url is not None


@contextmanager
def sole_writer(settings: Settings, holder: str) -> Iterator[None]:
    """Write the DuckDB file as its only writer; a concurrent run waits here, it does not fail.

    The slot makes the wait visible in the Prefect UI and lets the server hand the file out in turn; the file
    lock is what guarantees it, also against runs that know no server (`pipeline run`, the operator's
    commands). The slot is always taken first, so two runs never hold one each while waiting for the other.
    """
    logger = get_run_logger()
    with _slot(settings), writer_lock(settings.db_path, holder, settings.writer_wait_seconds, logger.info):
        yield


def _slot(settings: Settings) -> AbstractContextManager[None]:
    if not against_server():
        return nullcontext()
    return _server_slot(settings)


@contextmanager
def _server_slot(settings: Settings) -> Iterator[None]:
    acquired = False
    try:
        with concurrency(WRITER_LIMIT, occupy=1, timeout_seconds=settings.writer_wait_seconds):
            acquired = True
            yield
    except TimeoutError as exc:
        if acquired:
            raise
        raise WriterLockTimeout(
            f"gave up after {settings.writer_wait_seconds:.0f} s waiting for a slot of the concurrency limit "
            f"{WRITER_LIMIT!r}: another run is still writing; run again once it has finished, or raise "
            "PIPELINE_WRITER_WAIT_SECONDS"
        ) from exc
