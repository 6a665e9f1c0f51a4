"""A night with nothing new: 20 partners pulled again after a first run loaded them, then the marts, the
analyst file and the publication (which finds nothing new), timed after the imports; then a night with 1 % new
responses at the Kobo partners.

    .venv/bin/python benchmarks/bench_rerun.py [--partners 20] [--runs 3] [--responses N]

The demo's nine partners plus clones of its Kobo partners (an asset and a token of their own, the same
planned responses) make up the partners; every one is served by the emulators on 127.0.0.1. The runs go the
way the nightly flow goes (`pipeline_flows.tasks.ingest_each`: `partners_at_once` partners at a time, the
writer's right per batch), without Prefect, whose fixed cost (an ephemeral server) is no work of the pipeline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from bench_e2e import DEMO_TOTAL

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import analyst
from pipeline.publish.publication import publish
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_testkit import demo


def _registry(folder: Path, partners: int) -> Path:
    """The demo registry with clones of its Kobo partners up to `partners` partners."""
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    kobo = [p for p in data["partners"] if p["connector"]["kind"] == "kobo"]
    n = 0
    while len(data["partners"]) < partners:
        original = kobo[n % len(kobo)]
        n += 1
        clone = yaml.safe_load(yaml.safe_dump(original))
        clone["id"] = f"{original['id']}-{n}"
        clone["secret_env"] = f"{original['secret_env']}_{n}"
        clone["connector"]["asset_uid"] = f"{original['connector']['asset_uid']}{n}"
        demo.PLANS[clone["id"]] = demo.PLANS[original["id"]]
        data["partners"].append(clone)
    path = folder / "rerun-partners.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _night(ctx: Context) -> dict[str, float]:
    """A night as the nightly flow runs it (publish_all's steps, each timed)."""
    times = [time.perf_counter()]
    run_id = uuid.uuid4().hex
    ids = [p.id for p in ctx.registry.partners]
    with ThreadPoolExecutor(ctx.settings.partners_at_once) as pool:
        runs = list(pool.map(lambda pid: ingest_partner(ctx, pid, run_id), ids))
    for step in (build_marts, analyst.refresh, publish):
        times.append(time.perf_counter())
        step(ctx)
    times.append(time.perf_counter())
    ingest, marts, analyst_file, publication = (b - a for a, b in zip(times, times[1:], strict=False))
    return {
        "fetched": sum(r.fetched for r in runs),
        "new": sum(r.inserted + r.updated for r in runs),
        "ingest_s": ingest,
        "marts_s": marts,
        "analyst_s": analyst_file,
        "publish_s": publication,
        "total_s": times[-1] - times[0],
    }


def _add_new(world: demo.Demo, share: float) -> int:
    """New submissions at every Kobo partner, `share` of what it holds: copies of its latest ones under new ids,
    submitted at its latest time (inside a closed wave, at the partner's cursor)."""
    emulator = world.services["kobo"].emulator
    added = 0
    for partner in world.registry.partners:
        if partner.connector.kind != "kobo":
            continue
        uid = partner.connector.asset_uid  # type: ignore[union-attr]
        rows = emulator.assets[uid].submissions
        latest = max(row["_submission_time"] for row in rows)
        first = max(row["_id"] for row in rows) + 1
        n = max(int(len(rows) * share), 1)
        emulator.add_submissions(
            uid, [{**row, "_id": first + i, "_submission_time": latest} for i, row in enumerate(rows[-n:])]
        )
        added += n
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--responses", type=int, default=0, help="responses of the demo's nine (default: its own)")
    args = parser.parse_args()
    scale = args.responses / DEMO_TOTAL or 1.0
    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        with demo.running(settings, scale=scale, source=_registry(Path(tmp), args.partners)) as world:
            os.environ.update(world.env)
            ctx = Context(world.settings)
            print("| night | partners | fetched | new | ingest s | marts s | analyst file s | publish s | total s |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
            nights = ["first (loads)", *(f"nothing new {n}" for n in range(1, args.runs + 1)), "1 % new at Kobo"]
            for night in nights:
                if night.startswith("1 %"):
                    _add_new(world, 0.01)
                r = _night(ctx)
                print(
                    f"| {night} | {len(ctx.registry.partners)} | {r['fetched']:,} | {r['new']:,} "
                    f"| {r['ingest_s']:.2f} | {r['marts_s']:.2f} | {r['analyst_s']:.2f} | {r['publish_s']:.2f} "
                    f"| {r['total_s']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
