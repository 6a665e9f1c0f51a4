"""End-to-end benchmark: N generated responses served by the Kobo emulator, pulled, validated, loaded,
transformed and published by the pipeline in a separate process, whose time and peak RSS are measured.

    ./dev bench                      # 10k and 100k responses
    ./dev bench --responses 20000    # any sizes
    ./dev bench --stages             # and the seconds of each stage of the ingest (benchmarks/stages.py)
    ./dev bench --compare            # the Kobo partners only, beside the HTTP and DuckDB limits (limits.py)
                                     # and dlt's REST source loading DuckDB through parquet (dlt_peer.py)

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
from pipeline_testkit.emulators.server import JsonHandler

PAGE_SETTINGS = ("page_size", "ids_per_page", "cases_per_page")
DEMO_TOTAL = sum(n for waves in demo.PLANS.values() for n, _ in waves.values())

CHILD = """
import json, sys, time, uuid

def peak_rss_mb():
    # VmHWM: this process's own high-water mark. ru_maxrss is not: Linux carries the spawning parent's peak
    # (here the emulators holding every generated response) over the exec into it.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
if sys.argv[1] == "--stages":
    import stages
    stages.install()
from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import publish
from pipeline.transform.marts import build_marts

ctx = Context.from_environment()
started = time.perf_counter()
run_id = uuid.uuid4().hex
runs = [ingest_partner(ctx, partner_id, run_id) for partner_id in sys.argv[2:]]
loaded = time.perf_counter()
ingest_rss = peak_rss_mb()
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
    "peak_rss_mb": peak_rss_mb(),
    "stages": stages.table(loaded - started) if sys.argv[1] == "--stages" else [],
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


def bench(responses: int, stages: bool = False, compare: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        source = _registry_with_default_pages(Path(tmp))
        generating = time.perf_counter()
        with demo.running(settings, scale=responses / DEMO_TOTAL, source=source) as world:
            generated = time.perf_counter() - generating
            partners = [p for p in world.registry.partners if not compare or p.connector.kind == "kobo"]
            served = sum(len(world.served[p.id]) for p in partners)
            env = {**os.environ, **world.env, "PYTHONPATH": str(Path(__file__).parent)}
            result = _child(["-c", CHILD, "--stages" if stages else "--", *[p.id for p in partners]], env)
            if compare:
                assets = [f"{p.connector.asset_uid}={world.secrets[p.secret_env]}" for p in partners]  # type: ignore[union-attr]
                kobo = [world.services["kobo"].url, *assets]
                limits = _child([str(Path(__file__).with_name("limits.py")), *kobo], env)
                assert limits["responses"] == served, (limits, served)
                result["limits"] = limits
                peer = _child([str(Path(__file__).with_name("dlt_peer.py")), *kobo], env)
                assert peer["responses"] == served, (peer, served)
                result["dlt"] = peer
    assert result["fetched"] == served, (result, served)
    return {"responses": served, "generated_s": generated, **result}


def _child(args: list[str], env: dict[str, str]) -> dict:
    """Run python with args in a process of its own; its last line of output, a JSON object."""
    child = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False)
    if child.returncode:
        raise SystemExit(f"{args[0]} failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--stages", action="store_true", help="time the ingest's stages (benchmarks/stages.py)")
    parser.add_argument(
        "--compare", action="store_true", help="Kobo partners only, beside the limits (limits.py) and dlt (dlt_peer.py)"
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="each emulator answer waits this long first")
    args = parser.parse_args()
    JsonHandler.latency_seconds = args.latency_ms / 1000
    dlt_columns = " dlt s | peak RSS MiB dlt |" if args.compare else ""
    print(
        "| responses | ingest s | end to end s | responses/s (end to end) | peak RSS MiB ingest | peak RSS MiB end |"
        + dlt_columns
    )
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.compare else ""))
    profiles = {}
    for n in args.responses:
        r = bench(n, args.stages, args.compare)
        profiles[r["responses"]] = dict(r["stages"])
        rate = r["responses"] / r["total_s"]
        print(
            f"| {r['responses']:,} | {r['ingest_s']:.1f} | {r['total_s']:.1f} | {rate:,.0f} "
            f"| {r['ingest_rss_mb']:.0f} | {r['peak_rss_mb']:.0f} |"
            + (f" {r['dlt']['dlt_s']:.1f} | {r['dlt']['peak_rss_mb']:.0f} |" if args.compare else ""),
            flush=True,
        )
        if args.compare:
            _print_limits(r)
    if args.stages:
        _print_stages(profiles)


def _print_limits(r: dict) -> None:
    """The pipeline's ingest beside the limits and dlt on the same pages (see limits.py, dlt_peer.py), as ratios of
    seconds."""
    limits = r["limits"]
    http_s = limits["fetch_s"] + limits["decode_s"]
    duckdb_s = limits["fetch_s"] + limits["duckdb_s"]
    print(
        f"  {r['responses']:,} responses: ingest {r['ingest_s']:.1f} s ({r['responses'] / r['ingest_s']:,.0f}/s); "
        f"HTTP fetch + JSON decode {http_s:.1f} s ({r['responses'] / http_s:,.0f}/s); "
        f"DuckDB read_json {duckdb_s:.1f} s ({r['responses'] / duckdb_s:,.0f}/s)"
    )
    print(f"  ratio to HTTP limit: {r['ingest_s'] / http_s:.1f}")
    print(f"  ratio to DuckDB limit: {r['ingest_s'] / duckdb_s:.1f}")
    peer = r["dlt"]
    steps = ", ".join(f"{step} {s:.1f} s" for step, s in peer["steps_s"].items())
    print(
        f"  dlt {peer['dlt_version']} REST source -> DuckDB, parquet loader: {peer['dlt_s']:.1f} s "
        f"({r['responses'] / peer['dlt_s']:,.0f}/s; {steps}; {peer['tables']} tables; "
        f"peak RSS {peer['peak_rss_mb']:.0f} MiB)"
    )
    print(f"  ratio to dlt: {r['ingest_s'] / peer['dlt_s']:.2f}", flush=True)


def _print_stages(profiles: dict[int, dict[str, float]]) -> None:
    """Seconds per stage and size, the stages in the order of the largest size's seconds."""
    sizes = sorted(profiles)
    print()
    print("| stage | " + " | ".join(f"{n:,} s" for n in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for stage in sorted(profiles[sizes[-1]], key=lambda s: -profiles[sizes[-1]][s]):
        print(f"| {stage} | " + " | ".join(f"{profiles[n].get(stage, 0.0):.2f}" for n in sizes) + " |")


if __name__ == "__main__":
    main()
