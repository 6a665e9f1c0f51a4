"""Prefect's temporary API server, which a flow run in-process without a server (`pipeline run`, `pipeline
demo`, the tests' flows) reports to: started before the flow, and started again when its start hangs.

Prefect starts it as a child process on the first flow and reuses it for later flows of the process
(`SubprocessASGIServer` is a per-process singleton). Its start now and then hangs: the process lives but never
answers its health check, and the flow fails after PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS. It happened
in two full test runs out of three on 2026-12-07 (15 s is the usual start here); PrefectHQ/prefect#16397 and
#20247 report the same on CI runners, cause unknown. A hung start is stopped (terminated, killed after 5 s) and
another server started on a new port, so a night does not fail on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect.server.api.server import SubprocessASGIServer

ATTEMPTS = 3


def start(timeout_seconds: int | None = None) -> SubprocessASGIServer:
    """The running temporary server, started if it is not; each attempt waits `timeout_seconds` (Prefect's
    setting when None). Raises RuntimeError with every attempt's error when none started."""
    from prefect.server.api.server import SubprocessASGIServer

    failures = []
    for _ in range(ATTEMPTS):
        server = SubprocessASGIServer()
        try:
            server.start(timeout=timeout_seconds)
            return server
        except RuntimeError as error:
            failures.append(str(error))
            server.stop()
    raise RuntimeError(f"Prefect's temporary API server did not start in {ATTEMPTS} attempts: {failures}")
