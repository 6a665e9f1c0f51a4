"""Prefect's temporary API servers that killed runs left behind, found by a mark in their environment and stopped.

`pipeline run` (and `pipeline demo`) run the flow without a Prefect server, so Prefect starts a temporary one
as a child process and stops it when the run exits. A run killed outright (SIGKILL, the OOM killer) cannot stop
it: the server lives on, a child of init, holding a port and Prefect's database. Prefect has no setting that
ties the server to its parent, so each run marks its environment before the server starts (the server inherits
it): the run's process identity (see pipeline.service.processes) and its data folder. The next run stops a process only
when all of these hold: its own environment carries such a mark for the same data folder, the run that marked
it is gone, its command line is Prefect's temporary server, and it is no child of a live run. The mark is there
from the server's first instant, so a run killed while its server still starts up leaves nothing either.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.service import processes

RUN_MARK = "PIPELINE_RUN_PROCESS"
DATA_DIR_MARK = "PIPELINE_RUN_DATA_DIR"
# How Prefect 3 starts its temporary server (prefect.server.api.server.SubprocessASGIServer).
SERVER_APP = "prefect.server.api.server:create_app"

_PROC = Path("/proc")


def mark(data_dir: Path) -> None:
    """Mark this process's environment, which the processes it starts inherit, as this run's."""
    run = processes.this_process()
    if run is not None:
        os.environ[RUN_MARK] = run
        os.environ[DATA_DIR_MARK] = str(data_dir.resolve())


def left_behind(data_dir: Path) -> list[str]:
    """Identities of the temporary Prefect servers that gone runs on data_dir left running."""
    wanted = str(data_dir.resolve())
    found = []
    for entry in _PROC.glob("[0-9]*"):
        pid = int(entry.name)
        if not _is_temporary_server(processes.command_line(pid)):
            continue
        env = _environment(pid)
        run = env.get(RUN_MARK)
        if run is None or env.get(DATA_DIR_MARK) != wanted or not processes.gone(run):
            continue
        server = processes.identity(pid)
        if server is not None and processes.parent(pid) != processes.pid_of(run):
            found.append(server)
    return found


def stop_left_behind(data_dir: Path) -> list[int]:
    """Stop what left_behind finds; returns the PIDs stopped."""
    return [processes.pid_of(server) for server in left_behind(data_dir) if processes.stop(server)]


def _is_temporary_server(argv: list[str]) -> bool:
    return "uvicorn" in argv and SERVER_APP in argv


def _environment(pid: int) -> dict[str, str]:
    """The environment a process started with; empty when it is not ours to read (another user's)."""
    try:
        raw = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
    return dict(pairs)
