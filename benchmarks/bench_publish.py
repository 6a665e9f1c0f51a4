"""Disclosure control of a full cube: suppression and LP audit time, and what splitting into blocks gains.

    .venv/bin/python benchmarks/bench_publish.py [--seed 1] [--compare 300] [--runs 1] [--no-grouping]

The cube: 108 scale items × 7 answer codes (5 scale values, "weiß nicht", "keine Angabe") × 12 organisation
types × 4 waves, the items spread over 7 Handlungsfelder (HF3 with three themes), free-text counts per field.
Organisation types range from 1 to 110 respondents per wave, so many counts are small (as in the survey:
a few large administrations and many small initiatives). Answers are drawn per respondent, so the marts are
consistent (they are computed by the tests' independent helper, not by the SQL). As the publication does, the
types below k respondents are published together as "weitere" (disclosure/grouping.py; `--no-grouping`: not).

Printed: wall seconds, and summed over the model's independent parts (a Handlungsfeld of one wave each,
processed in parallel) suppression (all rounds) and audit, rounds, blocks, cells, primary and secondary
suppressions, LP solves; then the audit of the final pattern solved per block and as one
problem for the same `--compare` primary cells (the whole audit as one problem takes minutes), with the
factor. With `--runs N` protect() runs N times (a shared machine's timings vary by 10 to 25%): each wall time,
their least, median and largest, and whether every run hid the same cells.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' independent marts helper

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.disclosure.protection import Protection
    from tests.publish.test_disclosure import Item

# pandas, the publishing modules and the tests' helpers (pytest, hypothesis) are imported where they are used:
# protect()'s helper process is spawned, and a spawned process imports the main module of its parent, this
# script, before it can work; the helper itself needs only numpy, scipy, highspy and numba.

WAVES = ["2023", "2024", "2025", "2026"]
ORG_SIZES = [1, 2, 3, 4, 6, 9, 13, 20, 30, 45, 70, 110]
FIELDS = {"HF1": 15, "HF2": 15, "HF3": 24, "HF4": 14, "HF5": 14, "HF6": 13, "HF7": 13}
THEMES = ["BIL", "SPR", "ARB"]


def items() -> list[Item]:
    from tests.publish.test_disclosure import Item

    out = []
    for field, n in FIELDS.items():
        for i in range(n):
            theme = THEMES[i % len(THEMES)] if field == "HF3" else None
            out.append(Item(f"{field}_{i + 1:02d}", field=field, theme=theme))
    assert len(out) == 108
    return out


def answers(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    rng = np.random.default_rng(seed)
    codes = np.array(["1", "2", "3", "4", "5", "wn", "ka"])
    the_items = items()
    rows, texts = [], []
    for wave in WAVES:
        for n_org, size in enumerate(ORG_SIZES):
            org = f"org{n_org + 1:02d}"
            for person in range(size):
                respondent = f"{wave}-{org}-{person}"
                # each respondent leans somewhere, so answers cluster as real ones do
                lean = rng.dirichlet([1.0, 1.5, 2.5, 3.0, 2.0, 0.6, 0.3])
                answered = rng.random(len(the_items)) < 0.9
                picks = rng.choice(len(codes), size=len(the_items), p=lean)
                for item, ok, pick in zip(the_items, answered, picks, strict=True):
                    if ok:
                        rows.append((wave, org, respondent, item.code, codes[pick]))
                for field in FIELDS:
                    if rng.random() < 0.15:
                        texts.append((wave, org, respondent, field))
    columns = ["wave", "org_type", "respondent", "item_code", "answer_code"]
    return pd.DataFrame(rows, columns=columns), pd.DataFrame(texts, columns=columns[:3] + ["field_code"])


def cell_key_method(seed: int, k: int) -> None:
    """The cell key method on the same cube: its time and what its noise costs. The tests' helper marts carry
    no respondents' record keys, so the cell keys are drawn uniformly here (as the record keys' sums are)."""
    from pipeline.disclosure import cell_key
    from tests.publish.test_disclosure import marts_from_answers

    given, texts = answers(seed)
    marts = marts_from_answers(given, items(), texts, WAVES)
    rng = np.random.default_rng(seed)
    for name, (_, key) in cell_key.PERTURBED.items():
        marts[name] = marts[name].assign(**{key: rng.integers(0, cell_key.KEY_RANGE, len(marts[name]))})
    started = time.perf_counter()
    perturbed = cell_key.protect(marts, k, max_deviation=2, variance=1.0)
    wall = time.perf_counter() - started
    audit = perturbed.audit
    print(
        f"cell key method: {wall:.2f} s wall; audit {'passed' if audit.passed else 'FAILED'}: {audit.cells:,} cells, "
        f"{audit.primary:,} hidden in groups of fewer than k"
    )
    figures = perturbed.information_loss["key_figures"]
    print(
        "key figures published: "
        + ", ".join(f"{n} {f['published']:,} of {f['groups']:,}" for n, f in figures.items() if n != "by_org_type")
    )
    for column, cost in perturbed.information_loss["perturbation"].items():
        print(f"  {column}: {cost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--compare", type=int, default=300, help="primary cells for the one-problem comparison")
    parser.add_argument("--runs", type=int, default=1, help="times protect() runs (wall: least, median, largest)")
    parser.add_argument("--cell-key", action="store_true", help="the cell key method instead of suppression")
    parser.add_argument(
        "--no-grouping", action="store_true", help="publish every organisation type alone (no 'weitere')"
    )
    args = parser.parse_args()
    if args.cell_key:
        cell_key_method(args.seed, args.k)
        return

    from pipeline.disclosure import grouping
    from pipeline.disclosure import protection as disclosure
    from tests.publish.test_disclosure import marts_from_answers

    given, texts = answers(args.seed)

    marts = marts_from_answers(given, items(), texts, WAVES)
    if not args.no_grouping:
        groups = grouping.decide(marts, args.k, {})
        marts = grouping.apply(marts, groups)
        print(
            "grouped as 'weitere' (publication's table design): "
            + "; ".join(f"{w}: {', '.join(t)}" for w, t in groups.items())
        )
    sizes = ", ".join(f"{name} {len(frame):,}" for name, frame in marts.items())
    print(f"marts: {sizes} rows")

    walls, patterns = [], set()
    for _ in range(max(args.runs, 1)):
        started = time.perf_counter()
        protection = disclosure.protect(marts, args.k)
        walls.append(time.perf_counter() - started)
        patterns.add(frozenset(protection.hidden_cells))
    total = walls[-1]
    if len(walls) > 1:
        runs = ", ".join(f"{w:.2f}" for w in walls)
        print(
            f"{len(walls)} runs, wall s: {runs}; least {min(walls):.2f}, median {float(np.median(walls)):.2f}, "
            f"largest {max(walls):.2f}; the same hidden cells every run: {len(patterns) == 1}"
        )
    audit = protection.audit
    s = protection.seconds
    print(
        f"protect: {total:.2f} s wall; summed over the parts: suppression {s['suppression']:.2f} s, "
        f"audit {s['audit']:.2f} s in up to {protection.rounds} rounds, last audit {s['last_audit']:.2f} s"
    )
    print(
        f"audit {'passed' if audit.passed else 'FAILED'}: {audit.cells:,} cells, {audit.primary:,} primary, "
        f"{audit.secondary:,} secondary, {audit.blocks:,} blocks, {audit.solves:,} LP solves"
    )
    print(f"publish gate (verify.py): {audit.gate_solves:,} LP solves, {audit.gate_seconds:.2f} s over the parts")
    if audit.narrowest:
        n = audit.narrowest
        print(f"narrowest: {n.cell} = {n.value:g} in [{n.lower:g}, {n.upper:g}]")
    for line in audit.failures[:5]:
        print("  failure:", line)
    figures = protection.information_loss["key_figures"]
    shares = ", ".join(
        f"{name} {f['published']:,} of {f['groups']:,} ({f['published'] / max(f['groups'], 1):.0%})"
        for name, f in figures.items()
        if name != "by_org_type"
    )
    print(f"key figures published (groups of at least k valid answers): {shares}")
    columns = [row for row in figures["by_org_type"] if row["field_means"]["groups"]]
    lost = [row for row in columns if not row["field_means"]["published"]]
    print(f"organisation types (per wave) without a published Handlungsfeld mean: {len(lost)} of {len(columns)}")

    compare(marts, protection, args.compare)


def compare(marts: dict[str, pd.DataFrame], protection: Protection, n: int) -> None:
    """The same primary cells' intervals, solved per block and as one problem."""
    from pipeline.disclosure import cube
    from pipeline.disclosure.attacker import Attacker

    model = cube.build(marts).model
    hidden = cube.among(model.keys, protection.hidden_cells)
    primary = np.flatnonzero(cube.among(model.keys, protection.primary_cells))
    rng = np.random.default_rng(0)
    chosen = rng.choice(primary, size=min(n, len(primary)), replace=False)
    timings = {}
    for split in (True, False):
        started = time.perf_counter()
        attacker = Attacker(model, hidden, split=split)
        results = [attacker.bounds(model.figures[f]) for f in chosen]
        timings[split] = (time.perf_counter() - started, attacker.solves, results)
    (split_s, split_n, a), (one_s, one_n, b) = timings[True], timings[False]
    same = all(np.allclose(x, y, atol=1e-6) or x == y for x, y in zip(a, b, strict=True))
    print(
        f"{len(chosen)} primary intervals: per block {split_s:.2f} s ({split_n} LPs), one problem {one_s:.2f} s "
        f"({one_n} LPs): {one_s / split_s:.0f}× faster split; same intervals: {same}"
    )


if __name__ == "__main__":
    main()
