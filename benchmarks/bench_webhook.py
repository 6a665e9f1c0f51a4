"""From a partner's webhook call to the refreshed analyst file: `pipeline server` on the demo world, timed per call.

Each call first adds new responses at a Kobo demo partner (so the ingest has something to load and asks for a
publish run), then sends the signed webhook and waits for the analyst file to be replaced (a run on a partner's
event refreshes it; the steering group's release waits for a wave to close). The Prefect API
gives the steps in between. Usage:

    .venv/bin/python benchmarks/bench_webhook.py [--calls 5] [--partner caritas-lu]

Settings come from the environment as for `pipeline server` (e.g. PIPELINE_PUBLISH_WINDOW_SECONDS,
PREFECT_RUNNER_POLL_FREQUENCY); the script prints the ones that shape the timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from pipeline.service.webhooks import sign
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.emulators import kobo
from pipeline_testkit.emulators.synthetic import Plan, responses

BODY = b'{"note": "new responses"}'
# Later than every generated submission and inside the 2026 wave, so an incremental pull sees them.
LATE = datetime(2026, 6, 30, 21, 59, 0)
DEADLINE = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--partner", default="caritas-lu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data")
        with demo.running(settings) as world:
            env = {**os.environ, **world.env, "PIPELINE_PREFECT_PORT": "0", "PIPELINE_WEBHOOK_PORT": "0"}
            env.pop("PREFECT_API_URL", None)
            server = subprocess.Popen(
                [sys.executable, "-m", "pipeline_flows.cli", "server"], env=env, stdout=subprocess.PIPE, text=True
            )
            try:
                printed = _started(server)
                print(printed)
                api = re.search(r"Prefect API\s+(\S+)", printed).group(1)  # type: ignore[union-attr]
                hooks = re.search(r"Webhooks\s+(\S+)/hooks/", printed).group(1)  # type: ignore[union-attr]
                poll = env.get("PREFECT_RUNNER_POLL_FREQUENCY", "2 (the server's default)")
                print(f"publish window {Settings().publish_window_seconds} s; the runner polls every {poll} s")
                rows = [_one_call(world, settings, api, hooks, args.partner, i) for i in range(args.calls)]
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=120)
    _print(rows)


def _started(server: subprocess.Popen[str]) -> str:
    assert server.stdout is not None
    lines = []
    for line in server.stdout:
        lines.append(line.rstrip())
        if "Ctrl-C stops all three." in line:
            return "\n".join(lines)
    raise SystemExit("pipeline server ended before it was ready:\n" + "\n".join(lines))


def _one_call(world: demo.Demo, settings: Settings, api: str, hooks: str, partner_id: str, i: int) -> dict:
    partner = world.registry.partner(partner_id)
    wave = next(w for w in world.registry.waves if w.code == "2026")
    fresh = responses(world.codebook, Plan(partner, wave, 5, 20_000 + 5 * i), demo.SEED, LATE)
    fresh = [dataclasses.replace(r, submitted_at=LATE + timedelta(seconds=5 * i + k)) for k, r in enumerate(fresh)]
    emulator: kobo.KoboEmulator = world.services["kobo"].emulator  # type: ignore[assignment]
    emulator.add_submissions(partner.connector.asset_uid, [kobo.submission(partner, world.codebook, r) for r in fresh])
    refreshed = settings.analyst_db_path
    before = refreshed.stat().st_mtime_ns if refreshed.exists() else 0
    timestamp = str(int(time.time()))
    secret = world.env[partner.secret_env]
    called = time.time()
    answer = requests.post(
        f"{hooks}/hooks/{partner_id}",
        data=BODY,
        headers={"X-Timestamp": timestamp, "X-Signature": sign(secret, timestamp, BODY)},
        timeout=10,
    )
    answer.raise_for_status()
    while not refreshed.exists() or refreshed.stat().st_mtime_ns == before:
        if time.time() - called > DEADLINE:
            raise SystemExit(f"call {i + 1}: nothing published within {DEADLINE:.0f} s")
        time.sleep(0.1)
    published = time.time()
    ingest = _latest(api, "ingest-partner")
    publish = _latest(api, "publish")
    return {
        "total": published - called,
        "ingest start": _at(ingest["start_time"]) - called,
        "ingest end": _at(ingest["end_time"]) - called,
        "publish start": _at(publish["start_time"]) - called,
    }


def _latest(api: str, deployment: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        runs = requests.post(
            f"{api}/flow_runs/filter",
            json={"deployments": {"name": {"any_": [deployment]}}, "sort": "START_TIME_DESC", "limit": 1},
            timeout=10,
        ).json()
        if runs and runs[0]["end_time"] or time.monotonic() > deadline:
            return runs[0]
        time.sleep(0.5)


def _at(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


def _print(rows: list[dict]) -> None:
    names = list(rows[0])
    print("| call | " + " | ".join(f"{n} s" for n in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for i, row in enumerate(rows, 1):
        print(f"| {i} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")
    print("| median | " + " | ".join(f"{statistics.median(r[n] for r in rows):.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
