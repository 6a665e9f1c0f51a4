"""Prefect's temporary API server for in-process runs: a start that hangs is stopped and tried again.

The hang itself cannot be caused at will, so a start given one second (the server needs about 15 s here) stands
for it: every attempt times out while its process lives, as in the hangs seen. The run is a real process marked
as `pipeline run` marks itself, so that pipeline.service.orphans would find any server it left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.service import orphans
from pipeline_flows import temporary_server

START = """
import sys
from pathlib import Path
from pipeline.service import orphans
from pipeline_flows import temporary_server
orphans.mark(Path(sys.argv[1]))
temporary_server.start(timeout_seconds=1)
"""


def test_a_start_that_does_not_answer_in_time_is_stopped_and_tried_again_then_reported(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    # a file, not a pipe: a server left running would hold a pipe open and keep the run from ending
    log = tmp_path / "stderr.txt"
    try:
        with log.open("w") as stderr:
            done = subprocess.run([sys.executable, "-c", START, str(data_dir)], env=env, stderr=stderr, timeout=300)
        said = log.read_text()
        assert done.returncode != 0
        assert f"did not start in {temporary_server.ATTEMPTS} attempts" in said, said[-2000:]
        timeouts = said.count("Timed out while attempting to connect to ephemeral Prefect API server")
        assert timeouts == temporary_server.ATTEMPTS, said[-2000:]
        assert orphans.left_behind(data_dir) == [], "every server that did not answer was stopped"
    finally:
        orphans.stop_left_behind(data_dir)
