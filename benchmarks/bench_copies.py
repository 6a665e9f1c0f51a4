"""Marts, analyst file and publication after 1 % new responses on a store of about 1M, without loading 1M.

    .venv/bin/python benchmarks/bench_copies.py [--copies 1630] [--nights 2] [--open] [--keep DIR]

Loading 1M responses through the pipeline takes a quarter of an hour; what follows a night's load (the marts,
the analyst file, the publication) depends on what the store holds, not on how it got there. So the demo's
partners are pulled once, with the emulators on 127.0.0.1, and their core responses and answers are then copied
`--copies` times under new respondent keys (a SHA-256 of the key and the copy's number, so the record keys stay
uniform), 1,630 copies making 999,803 responses and 63M answers. The marts, analyst file and a first release are
made whole, then each night adds 1 % new responses to the open wave (copies of a sample of it) and times the
three steps the nightly flow runs after its load. The demo's newest wave closed before today, so each night's
responses come late to a published wave and the publication makes a new release; with `--open` that wave closes
next year instead, as during a survey, and the release stays as it is. `--keep DIR` leaves the store in DIR.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import analyst
from pipeline.publish.publication import publish
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_testkit import demo

STEP = 100  # copies per statement: bounds the statement's memory


def _copy(db_path: Path, copies: int) -> tuple[int, int]:
    """The store's core responses and answers `copies` times more, under new keys; returns both counts."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute("create temp table first_responses as from core.responses")
        con.execute("create temp table first_answers as from core.answers")
        for start in range(1, copies + 1, STEP):
            copy = f"range({start}, {min(start + STEP, copies + 1)}) as copies (n)"
            con.execute(
                "insert into core.responses by name select r.* replace (sha256(respondent_key || n::varchar) "
                f"as respondent_key, record_id || '-' || n::varchar as record_id) from first_responses as r, {copy}"
            )
            con.execute(
                "insert into core.answers by name select a.* replace (sha256(respondent_key || n::varchar) "
                "as respondent_key, core.record_key(sha256(respondent_key || n::varchar)) as record_key) "
                f"from first_answers as a, {copy} order by wave"
            )
        con.execute("checkpoint")
        counts = "select (select count(*) from core.responses), (select count(*) from core.answers)"
        return con.execute(counts).fetchone()  # type: ignore[return-value]
    finally:
        con.close()


def _add_new(db_path: Path, share: float, night: int) -> int:
    """New responses in the open wave, `share` of it: copies of a sample of its responses, loaded now, with the
    log of changed answers the loader keeps for the marts."""
    con = duckdb.connect(str(db_path))
    try:
        (wave, n) = con.execute(
            "select wave, count(*) from core.responses group by wave order by wave desc limit 1"
        ).fetchone()  # type: ignore[misc]
        mark = f"new{night}"
        con.execute(
            "create temp table sampled as from core.responses where wave = ? "
            f"using sample reservoir({int(n * share)} rows) repeatable (7)",
            [wave],
        )
        con.execute(
            "insert into core.responses by name select s.* replace (sha256(respondent_key || ?) as respondent_key, "
            "record_id || ? as record_id, now() as first_loaded_at, now() as updated_at) from sampled as s",
            [mark, mark],
        )
        con.execute(
            "create temp table new_answers as select a.* replace (sha256(respondent_key || ?) as respondent_key, "
            "core.record_key(sha256(respondent_key || ?)) as record_key) from core.answers as a "
            "semi join sampled using (respondent_key)",
            [mark, mark],
        )
        con.execute("insert into core.answers by name from new_answers")
        # what core/replace_answers keeps for the marts' next build
        con.execute("insert into ops.answers_since_marts by name select 1 as sign, * from new_answers")
        return int(n * share)
    finally:
        con.close()


def _open_newest_wave(db_path: Path) -> None:
    """The newest wave closing a year from today, as the registry would say during the survey (nothing loads
    the registry again here)."""
    con = duckdb.connect(str(db_path))
    try:
        con.execute(
            "update core.waves set closes = (current_date + interval 1 year)::date "
            "where wave = (select max(wave) from core.waves)"
        )
    finally:
        con.close()


def _timed(step: Callable[[Context], object], ctx: Context) -> float:
    started = time.perf_counter()
    step(ctx)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=1630)
    parser.add_argument("--nights", type=int, default=2)
    parser.add_argument("--open", action="store_true", help="the nights' wave still open (closes next year)")
    parser.add_argument("--keep", type=Path, help="leave the store in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-copies-") as tmp:
        folder = args.keep or Path(tmp)
        settings = Settings(data_dir=folder)
        with demo.running(settings) as world:
            os.environ.update(world.env)
            ctx = Context(world.settings)
            run_id = uuid.uuid4().hex
            for partner in ctx.registry.partners:
                ingest_partner(ctx, partner.id, run_id)
        responses, answers = _copy(settings.db_path, args.copies)
        if args.open:
            _open_newest_wave(settings.db_path)
        ctx = Context(settings)
        print(f"store: {responses:,} responses, {answers:,} answers")
        whole = [_timed(step, ctx) for step in (build_marts, analyst.refresh, publish)]
        print("| night | new | marts s | analyst file s | publish s | total s |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| first (whole) | {responses:,} | {' | '.join(f'{s:.2f}' for s in whole)} | {sum(whole):.2f} |")
        for night in range(1, args.nights + 1):
            new = _add_new(settings.db_path, 0.01, night)
            times = [_timed(step, ctx) for step in (build_marts, analyst.refresh, publish)]
            print(f"| 1 % new {night} | {new:,} | {' | '.join(f'{s:.2f}' for s in times)} | {sum(times):.2f} |")


if __name__ == "__main__":
    main()
