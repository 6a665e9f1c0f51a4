"""A night with nothing new: 20 partners pulled again after a first run loaded them, then the marts, the
analyst file and the publication (which finds nothing new), timed after the imports.

    .venv/bin/python benchmarks/bench_rerun.py [--partners 20] [--runs 3]

The demo's nine partners plus clones of its Kobo partners (an asset and a token of their own, the same
planned responses) make up the partners; every one is served by the emulators on 127.0.0.1. The runs go the
way the nightly flow goes (`pipeline_flows.tasks.ingest_each`: `partners_at_once` partners at a time, the
writer's right per batch), without Prefect, whose fixed cost (an ephemeral server) is no work of the pipeline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import publish_all
from pipeline.settings import Settings
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
    started = time.perf_counter()
    run_id = uuid.uuid4().hex
    ids = [p.id for p in ctx.registry.partners]
    with ThreadPoolExecutor(ctx.settings.partners_at_once) as pool:
        runs = list(pool.map(lambda pid: ingest_partner(ctx, pid, run_id), ids))
    ingested = time.perf_counter()
    refreshed = publish_all(ctx, "changed")
    done = time.perf_counter()
    return {
        "fetched": sum(r.fetched for r in runs),
        "new": sum(r.inserted + r.updated for r in runs),
        "ingest_s": ingested - started,
        "publish_s": done - ingested,
        "total_s": done - started,
        "published": refreshed.publication.message,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        with demo.running(settings, source=_registry(Path(tmp), args.partners)) as world:
            import os

            os.environ.update(world.env)
            ctx = Context(world.settings)
            print("| run | partners | fetched | new | ingest s | marts, analyst file, publish s | total s |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for run in range(args.runs + 1):
                r = _night(ctx)
                label = "first (loads)" if run == 0 else f"nothing new {run}"
                print(
                    f"| {label} | {len(ctx.registry.partners)} | {r['fetched']:,} | {r['new']:,} "
                    f"| {r['ingest_s']:.2f} | {r['publish_s']:.2f} | {r['total_s']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
