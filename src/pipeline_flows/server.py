"""`pipeline server`: the Prefect server, the served deployments and the webhook receiver on 127.0.0.1, together.

Three child processes, started in this order and each waited for: `prefect server start` (API and UI, its
database under PREFECT_HOME, by default <data dir>/prefect), `python -m pipeline_flows.deployments` (serves the
deployments) and `python -m pipeline_flows.receiver` (the partners' webhooks). Each runs in its own process group and
writes to its own log under <data dir>/logs. Ctrl-C or SIGTERM stops them in reverse order, by PID, each with
a bounded wait before it is killed. This module starts processes and speaks HTTP; it does not import Prefect.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import requests

from pipeline.errors import ConfigError, PipelineError
from pipeline.settings import Settings

HOST = "127.0.0.1"
# The deployments pipeline_flows/deployments.py defines, as flow/deployment; the server is ready when all are there.
DEPLOYMENTS = ("nightly/nightly", "ingest-partner/ingest-partner", "publish/publish")
START_SECONDS = 180.0
STOP_SECONDS = 20.0
WATCH_SECONDS = 1.0


class ServerError(PipelineError):
    """A process of `pipeline server` did not come up; the message names it and its log."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def api_url(port: int) -> str:
    return f"http://{HOST}:{port}/api"


def run(settings: Settings, say: Callable[[str], None]) -> int:
    """Start everything, report where it runs, and keep it running until Ctrl-C, SIGTERM or a child's exit."""
    prefect_port = _port(settings.prefect_port, "PIPELINE_PREFECT_PORT")
    webhook_port = _port(settings.webhook_port, "PIPELINE_WEBHOOK_PORT")
    env = _child_env(settings, prefect_port, webhook_port)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        ui = f"http://{HOST}:{prefect_port}"
        webhooks = f"http://{HOST}:{webhook_port}"
        children.append(_start("prefect-server", _prefect_server(prefect_port), env, logs))
        _wait_until(children[-1], lambda: _answers(f"{ui}/api/health"))
        children.append(_start("deployments", [sys.executable, "-m", "pipeline_flows.deployments"], env, logs))
        children.append(_start("webhooks", [sys.executable, "-m", "pipeline_flows.receiver"], env, logs))
        _wait_until(children[-1], lambda: _answers(f"{webhooks}/health"))
        _wait_until(children[-2], lambda: _served(ui) is not None)
        for line in _summary(settings, env["PREFECT_HOME"], ui, webhooks, _served(ui) or {}, children):
            say(line)
        ended = _watch(children)
        say(f"{ended.name} (pid {ended.process.pid}) ended with code {ended.process.returncode}; see {ended.log}")
        return 1
    except KeyboardInterrupt:
        say("stopping …")
        return 0
    finally:
        # Stopping is bounded; a second Ctrl-C must not leave children behind half-way.
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(children):
            _stop(child)
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, previous)


def _child_env(settings: Settings, prefect_port: int, webhook_port: int) -> dict[str, str]:
    """The environment of every child: this one, pointed at our server, with Prefect's home kept in the data
    dir unless PREFECT_HOME says otherwise, and nothing sent anywhere. The serving process looks for runs to
    start every 2 s unless PREFECT_RUNNER_POLL_FREQUENCY says otherwise (Prefect's 10 s were up to 10 s of
    every event's way to a publication)."""
    env = dict(os.environ)
    env.setdefault("PREFECT_HOME", str(settings.data_dir / "prefect"))
    env.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "2")
    env.update({
        "PREFECT_API_URL": api_url(prefect_port),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PIPELINE_PREFECT_PORT": str(prefect_port),
        "PIPELINE_WEBHOOK_PORT": str(webhook_port),
    })  # fmt: skip
    return env


def _prefect_server(port: int) -> list[str]:
    return [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)]


def _port(configured: int, variable: str) -> int:
    """The configured port if it is free on 127.0.0.1, or a free one for 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers themselves bind: a listener makes the port busy, connections closing down do not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, configured))
        except OSError as exc:
            raise ConfigError(
                f"port {configured} on {HOST} is in use: stop what listens there, or set {variable} "
                "(0 picks a free port)"
            ) from exc
        return probe.getsockname()[1]


def _start(name: str, command: list[str], env: dict[str, str], logs: Path) -> Child:
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        out.flush()
        # A session of its own: Ctrl-C reaches only this process, which stops the children in order.
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Child(name, process, log)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _served(ui: str) -> dict[str, dict] | None:
    """Our deployments by flow/deployment name once all are registered, else None."""
    try:
        flows = requests.post(f"{ui}/api/flows/filter", json={}, timeout=5).json()
        found = requests.post(f"{ui}/api/deployments/filter", json={}, timeout=5).json()
    except (requests.RequestException, ValueError):
        return None
    names = {f["id"]: f["name"] for f in flows}
    by_name = {f"{names.get(d['flow_id'])}/{d['name']}": d for d in found}
    return by_name if all(name in by_name for name in DEPLOYMENTS) else None


def _wait_until(child: Child, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not ready():
        if child.process.poll() is not None:
            raise ServerError(
                f"{child.name} ended with code {child.process.returncode} while starting:\n{_tail(child)}"
            )
        if time.monotonic() > deadline:
            raise ServerError(f"{child.name} was not ready after {START_SECONDS:.0f} s; see {child.log}")
        time.sleep(0.5)


def _tail(child: Child, lines: int = 20) -> str:
    text = child.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(["  " + line for line in text] + [f"(the whole log: {child.log})"])


def _summary(
    settings: Settings, home: str, ui: str, webhooks: str, served: dict[str, dict], children: list[Child]
) -> list[str]:
    lines = [
        f"Prefect UI        {ui}",
        f"Prefect API       {ui}/api   (PREFECT_API_URL for `pipeline trigger` and the prefect CLI)",
        f"Webhooks          {webhooks}/hooks/<partner id>   (signed, see docs/onboarding.md)",
        "Deployments",
    ]
    for name in DEPLOYMENTS:
        lines.append(f"  {name:<31} {_when(served[name])}")
    lines += [
        f"One writer        {settings.db_path}.lock, concurrency limit duckdb-writer (1)",
        f"Runs at once      {settings.served_runs_at_once} flow runs, {settings.partners_at_once} partners pulled "
        "at once in each (PIPELINE_SERVED_RUNS_AT_ONCE, PIPELINE_PARTNERS_AT_ONCE)",
        f"PREFECT_HOME      {home}",
        "Processes         " + ", ".join(f"{c.name} pid {c.process.pid}" for c in children),
        f"Logs              {children[0].log.parent}",
        "Ctrl-C stops all three.",
    ]
    return lines


def _when(deployment: dict) -> str:
    schedules = [s["schedule"] for s in deployment.get("schedules") or [] if s.get("active", True)]
    crons = [f"cron {s['cron']!r} {s.get('timezone') or 'UTC'}" for s in schedules if "cron" in s]
    return "; ".join(crons) or (deployment.get("description") or "")


def _watch(children: list[Child]) -> Child:
    """Until a child ends: this is the service's lifetime, so it has no deadline of its own."""
    while True:
        for child in children:
            if child.process.poll() is not None:
                return child
        time.sleep(WATCH_SECONDS)


def _stop(child: Child) -> None:
    """SIGTERM to the child, then SIGKILL to what is left of its process group after a bounded wait."""
    if child.process.poll() is None:
        child.process.terminate()
        try:
            child.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.process.pid, signal.SIGKILL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the server as Ctrl-C does."""
    raise KeyboardInterrupt
