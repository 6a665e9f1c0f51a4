"""Which processes a start may stop: only a temporary Prefect server whose marking run on this data folder is gone.

Stand-ins for the server are real processes with its command line (a sleeping Python process whose arguments
name uvicorn and Prefect's app factory) and the marks a run puts in its environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.service import orphans, processes
from tests.conftest import SLEEP


def _server(started: list[subprocess.Popen[bytes]], run: str | None, data_dir: Path, app: str) -> int:
    """A process with the temporary server's command line (app) and the marks of run on data_dir."""
    env = dict(os.environ)
    if run is not None:
        env.update({orphans.RUN_MARK: run, orphans.DATA_DIR_MARK: str(data_dir.resolve())})
    argv = [sys.executable, "-c", SLEEP, "-m", "uvicorn", "--factory", app]
    started.append(subprocess.Popen(argv, env=env, start_new_session=True))
    return started[-1].pid


def _gone_run() -> str:
    """The identity of a run process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    run = processes.identity(process.pid)
    process.wait(timeout=10)
    assert run is not None and processes.gone(run)
    return run


def test_only_the_server_of_a_gone_run_on_this_data_folder_is_stopped(
    started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    ours, elsewhere = tmp_path / "data", tmp_path / "other"
    gone, live = _gone_run(), processes.this_process()
    assert live is not None
    orphan = _server(started, gone, ours, orphans.SERVER_APP)
    kept = {
        "of a live run": _server(started, live, ours, orphans.SERVER_APP),
        "of another data folder": _server(started, gone, elsewhere, orphans.SERVER_APP),
        "unmarked": _server(started, None, ours, orphans.SERVER_APP),
        "not Prefect's server": _server(started, gone, ours, "someone.else:create_app"),
    }

    assert orphans.stop_left_behind(ours) == [orphan]
    assert started[0].wait(timeout=10) is not None
    assert {what: p.poll() for what, p in zip(kept, started[1:], strict=True)} == dict.fromkeys(kept)
