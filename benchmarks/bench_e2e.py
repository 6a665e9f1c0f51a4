"""End-to-end benchmark: N generated responses served by the Kobo emulator, pulled, validated, loaded,
transformed and published by the pipeline in a separate process, whose time and peak RSS are measured.

    ./dev bench                      # 10k and 100k responses
    ./dev bench --responses 20000    # any sizes

The emulator (and the generated data) live in this process; the pipeline runs in a child process so that its
peak RSS is its own. Prefect is left out: its fixed start-up (about 15 s for the ephemeral server) says
nothing about the pipeline's throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from pipeline.settings import Settings
from pipeline_testkit import demo

PAGE_SETTINGS = ("page_size", "ids_per_page")
DEMO_TOTAL = sum(n for waves in demo.PLANS.values() for n, _ in waves.values())

CHILD = """
import json, resource, sys, time, uuid
from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import publish
from pipeline.transform.marts import build_marts

ctx = Context.from_environment()
started = time.perf_counter()
run_id = uuid.uuid4().hex
runs = [ingest_partner(ctx, partner_id, run_id) for partner_id in sys.argv[1:]]
loaded = time.perf_counter()
ingest_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
build_marts(ctx)
publish(ctx)
done = time.perf_counter()
print(json.dumps({
    "fetched": sum(r.fetched for r in runs),
    "loaded": sum(r.loaded for r in runs),
    "quarantined": sum(r.quarantined for r in runs),
    "ingest_s": loaded - started,
    "total_s": done - started,
    "ingest_rss_mb": ingest_rss,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _registry_with_default_pages(folder: Path) -> Path:
    """The demo registry without its small demo page sizes (chosen to show paging on 65 responses), so every
    connector pages as it does by default in production."""
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    for partner in data["partners"]:
        for setting in PAGE_SETTINGS:
            partner["connector"].pop(setting, None)
    path = folder / "bench-partners.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def bench(responses: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        source = _registry_with_default_pages(Path(tmp))
        generating = time.perf_counter()
        with demo.running(settings, scale=responses / DEMO_TOTAL, source=source) as world:
            generated = time.perf_counter() - generating
            served = sum(len(s) for s in world.served.values())
            child = subprocess.run(
                [sys.executable, "-c", CHILD, *[p.id for p in world.registry.partners]],
                env={**os.environ, **world.env},
                capture_output=True,
                text=True,
                check=False,
            )
    if child.returncode:
        raise SystemExit(f"the pipeline failed:\n{child.stderr[-3000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["fetched"] == served, (result, served)
    return {"responses": served, "generated_s": generated, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print("| responses | ingest s | end to end s | responses/s (end to end) | peak RSS MiB ingest | peak RSS MiB end |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.responses:
        r = bench(n)
        rate = r["responses"] / r["total_s"]
        print(
            f"| {r['responses']:,} | {r['ingest_s']:.1f} | {r['total_s']:.1f} | {rate:,.0f} "
            f"| {r['ingest_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
