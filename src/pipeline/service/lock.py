"""One writer at a time: an exclusive lock on a file beside the DuckDB file, taken by every process that writes.

DuckDB lets one process open a file for writing; a second one fails at once. Runs overlap in practice (the
nightly schedule, a trigger from the CLI or the UI, a partner's webhook, an operator's `pipeline run` without
a server), so each of them takes this lock around every step that writes and the later one waits instead of
failing. The lock is the kernel's (fcntl.flock): it dies with its holder, so a crashed run never leaves it
behind, and it works with and without a Prefect server.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.settings import Settings

# Holds the right to write the working file while its block runs; given who writes. The flows add a Prefect
# concurrency slot to the file lock (pipeline_flows.writer).
Writer = Callable[[str], AbstractContextManager[None]]

POLL_SECONDS = 0.2
# The lock files this process holds: flock tells another process, not the holder itself.
_held: set[Path] = set()


class WriterLockTimeout(PipelineError):
    """Another run kept writing the DuckDB file for longer than this one was willing to wait."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(f"{db_path.name}.lock")


def held(db_path: Path) -> bool:
    """Whether this process holds the writer lock of db_path now."""
    return lock_path(db_path).resolve() in _held


@contextmanager
def writer_lock(
    db_path: Path, holder: str, wait_seconds: float, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the writer lock of db_path while the block runs, waiting up to wait_seconds for it.

    holder says who writes (e.g. "ingest caritas-lu"); it is kept in the lock file while held, so a waiting
    run can say whom it waits for. on_wait receives that message once, when waiting begins.
    """
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, wait_seconds, on_wait)
        _held.add(path.resolve())
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: {holder}\n".encode(), 0)
            yield
        finally:
            _held.discard(path.resolve())
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, wait_seconds: float, on_wait: Callable[[str], None] | None) -> None:
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if not announced and on_wait is not None:
            on_wait(f"waiting up to {wait_seconds:.0f} s for the writer lock {path}, held by {_holder(path)}")
            announced = True
        if time.monotonic() >= deadline:
            raise WriterLockTimeout(
                f"gave up after {wait_seconds:.0f} s waiting for the writer lock {path}, held by {_holder(path)}: "
                "another run is still writing the DuckDB file; run again once it has finished, or raise "
                "PIPELINE_WRITER_WAIT_SECONDS"
            )
        time.sleep(POLL_SECONDS)


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return text or "another process"


def file_writer(settings: Settings) -> Writer:
    """The writer lock alone, for callers without a Prefect server."""
    return lambda holder: writer_lock(settings.db_path, holder, settings.writer_wait_seconds)
