"""Processes told apart across PID reuse and reboots: a PID with another start time or boot is another process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from pipeline.service import processes
from tests.conftest import SLEEP


def test_a_process_is_gone_once_it_ended_even_before_it_is_reaped() -> None:
    process = subprocess.Popen([sys.executable, "-c", SLEEP])
    try:
        known = processes.identity(process.pid)
        assert known is not None and processes.alive(known) and not processes.gone(known)
        process.kill()
        deadline = time.monotonic() + 5
        while processes.alive(known) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Path(f"/proc/{process.pid}").exists(), "reaped already: the zombie case is not tested"
        assert processes.gone(known)
    finally:
        process.wait(timeout=10)
    assert processes.gone(known)


def test_a_pid_taken_over_by_another_process_is_not_stopped(started: list[subprocess.Popen[bytes]]) -> None:
    """The same PID with another start time, or in another boot, is another process: judged gone, never
    signalled."""
    started.append(subprocess.Popen([sys.executable, "-c", SLEEP]))
    now = processes.identity(started[0].pid)
    assert now is not None and processes.alive(now)
    boot, pid, start = now.split(":")
    earlier = f"{boot}:{pid}:{int(start) - 1}"

    assert processes.gone(earlier)
    assert processes.stop(earlier)
    assert started[0].poll() is None
    assert processes.gone(f"another-boot:{pid}:{start}")
    assert not processes.gone(None), "an unknown process is never judged gone"
