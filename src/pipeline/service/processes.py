"""Processes named so that a reused PID is never mistaken for them: boot, PID and start time, read from /proc.

A run records the process doing its work (in the runs ledger, beside the temporary Prefect server it started);
a later start asks whether that very process still lives. A PID alone would not do: the kernel hands a freed PID
to the next process, and after a reboot every PID starts again. The start time (clock ticks since boot, field 22
of /proc/<pid>/stat) tells two processes with one PID apart, the boot id two boots. Linux only: elsewhere no
identity is known and nothing is ever judged gone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_PROC = Path("/proc")
_BOOT_ID = _PROC / "sys" / "kernel" / "random" / "boot_id"


def identity(pid: int) -> str | None:
    """`<boot id>:<pid>:<start time>` of a running process, None when there is none with that PID."""
    stat = _stat(pid)
    if stat is None:
        return None
    state, start = stat
    if state in ("Z", "X"):  # dead, only not reaped yet
        return None
    return f"{_boot_id()}:{pid}:{start}"


def this_process() -> str | None:
    return identity(os.getpid())


def alive(process: str) -> bool:
    """Whether the process an identity names is still running (this boot, same PID, same start time)."""
    try:
        _, pid = process.split(":")[:2]
        return identity(int(pid)) == process
    except ValueError:
        return False


def pid_of(process: str) -> int:
    return int(process.split(":")[1])


def gone(process: str | None) -> bool:
    """True only when the process is known and no longer runs; an unknown one (None) is never gone."""
    return process is not None and _BOOT_ID.exists() and not alive(process)


def parent(pid: int) -> int | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(text[text.rindex(")") + 2 :].split()[1])


def command_line(pid: int) -> list[str]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def stop(process: str, wait_seconds: float = 5.0) -> bool:
    """SIGTERM to the process the identity names, SIGKILL after wait_seconds; True when it is gone. The
    identity is checked before each signal, so a PID taken over by another process meanwhile is left alone."""
    pid = pid_of(process)
    for sig, wait in ((signal.SIGTERM, wait_seconds), (signal.SIGKILL, wait_seconds)):
        if not alive(process):
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
    return not alive(process)


def _stat(pid: int) -> tuple[str, str] | None:
    """State and start time from /proc/<pid>/stat; the command name before them may hold spaces and ')'."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], fields[19]


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return "unknown-boot"
