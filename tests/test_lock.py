"""The writer lock between real processes: the second writer waits, a bounded wait ends with a clear message,
and a crashed holder leaves nothing behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline import db
from pipeline.service.lock import WriterLockTimeout, writer_lock
from pipeline.settings import Settings
from pipeline_flows import cli

HOLD = """
import select, sys
import duckdb
from pathlib import Path
from pipeline.service.lock import writer_lock
with writer_lock(Path(sys.argv[1]), "ingest caritas-lu (run 42)", 5):
    con = duckdb.connect(sys.argv[1]) if sys.argv[3] == "open" else None  # a step writing the file
    print("held", flush=True)
    select.select([sys.stdin], [], [], float(sys.argv[2]))  # until the test releases it, or the seconds given
"""


@contextmanager
def held_elsewhere(db_path: Path, seconds: float, open_file: bool = False) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock until released (a line on its stdin) or for at most `seconds` (with
    `open_file`, the DuckDB file open too)."""
    argv = [sys.executable, "-c", HOLD, str(db_path), str(seconds), "open" if open_file else "-"]
    holder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_second_writer_waits_for_the_first_then_writes(tmp_path: Path) -> None:
    db_path = tmp_path / "pipeline.duckdb"
    waits: list[str] = []
    granted = threading.Event()

    def second_writer() -> None:
        with writer_lock(db_path, "publish the marts", 30, waits.append):
            granted.set()

    with held_elsewhere(db_path, 60) as holder:
        writer = threading.Thread(target=second_writer)
        writer.start()
        while not waits and writer.is_alive():
            time.sleep(0.05)
        assert not granted.is_set(), "granted while the other process held it"
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()
        writer.join(timeout=30)

    assert granted.is_set(), "never granted once the other process let go"
    assert waits == [
        f"waiting up to 30 s for the writer lock {db_path}.lock, held by pid {holder.pid}: ingest caritas-lu (run 42)"
    ]


def test_a_bounded_wait_ends_with_a_message_naming_the_holder_and_what_to_do(tmp_path: Path) -> None:
    db_path = tmp_path / "pipeline.duckdb"
    with held_elsewhere(db_path, 30) as holder, pytest.raises(WriterLockTimeout) as raised:  # noqa: SIM117
        with writer_lock(db_path, "publish the marts", 0.5):
            pytest.fail("the lock was granted while another process held it")

    message = str(raised.value)
    assert f"held by pid {holder.pid}: ingest caritas-lu (run 42)" in message
    assert "PIPELINE_WRITER_WAIT_SECONDS" in message


def test_a_holder_that_dies_leaves_the_lock_free(tmp_path: Path) -> None:
    db_path = tmp_path / "pipeline.duckdb"
    with held_elsewhere(db_path, 30) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        with writer_lock(db_path, "ingest stadt-lu", 5):
            assert time.monotonic() - started < 1


def test_the_lock_is_free_again_after_the_block_even_when_it_raised(tmp_path: Path) -> None:
    db_path = tmp_path / "pipeline.duckdb"
    with pytest.raises(RuntimeError), writer_lock(db_path, "ingest caritas-lu", 1):
        raise RuntimeError("a failing write")
    with writer_lock(db_path, "ingest caritas-lu", 0.5):
        assert (tmp_path / "pipeline.duckdb.lock").read_text().startswith("pid ")


@pytest.mark.parametrize("command", [["status"], ["quarantine", "list"]])
def test_a_reading_command_run_while_a_step_writes_waits_for_it_and_names_it(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB lets one process at a time open the working file: the operator's command must not fail on it."""
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    settings = Settings()
    db.connect(settings.db_path, settings.sql_dir, settings.duckdb_memory_limit).close()
    with held_elsewhere(settings.db_path, 1.5, open_file=True) as holder:
        code = cli.main(command)

    shown = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert code == 0
    assert f"held by pid {holder.pid}: ingest caritas-lu (run 42)" in shown
    assert ("Last run per partner" if command == ["status"] else "Open rejections: 0 responses") in shown
