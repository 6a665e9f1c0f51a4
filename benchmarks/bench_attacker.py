"""How much work the audit's attacker saves: LP solves of the pushes and of the one-solve pins, on a small model.

    .venv/bin/python benchmarks/bench_attacker.py

The tests hold the attacker to its answers (every interval equal to scipy's linprog, every bound proven by a
point it found); how few solves it takes to get there is measured here, on the tests' two-item model:
- the pushes: with no exploring vertex, every small count starts unproven both ways, and one round of pushes
  must still prove most of them together (target: fewer solves than half the targets, at most a quarter left
  unproven); a target counted twice once stopped the pushes before their first round;
- the pins: a hidden figure the published equations fix is solved once, not twice (its other bound is the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' independent marts helper

from pipeline.disclosure import attacker as search_attacker  # noqa: E402
from pipeline.disclosure import cube, linear_model  # noqa: E402
from pipeline.disclosure.attacker import Attacker  # noqa: E402
from pipeline.disclosure.protection import Level  # noqa: E402
from pipeline.disclosure.suppression import suppress  # noqa: E402
from tests.publish.test_disclosure import TOL, TWO_ITEMS, Item, K, _marts  # noqa: E402


def model_and_pattern() -> tuple[linear_model.Model, np.ndarray]:
    model = cube.build(_marts(TWO_ITEMS, [Item("A"), Item("B")])).model
    return model, suppress(model, K, np.zeros(model.n_figures, bool), True, Level(), max_rounds=1).hidden


def pushes() -> None:
    search_attacker.EXPLORE = 0
    model, hidden = model_and_pattern()
    values = model.figure_values
    small = np.flatnonzero(hidden & (model.kind == linear_model.COUNT) & (values > 0) & (values < K))
    attacker = Attacker(model, hidden)
    lo, hi = attacker.cover(model.figures[small], values[small] + 1, values[small] - 1)
    unproven = int(((hi < values[small] + 1 - TOL) | (lo > values[small] - 1 + TOL)).sum())
    print(
        f"pushes: {len(small)} small counts, {attacker.solves} LP solves "
        f"(target < {len(small) / 2:.0f}), {unproven} left unproven (target <= {len(small) / 4:.0f})"
    )


def pins() -> None:
    model, hidden = model_and_pattern()
    attacker = Attacker(model, hidden)
    once = twice = 0
    for figure in np.flatnonzero(hidden & (model.figure_values > 0)):
        before = attacker.solves
        lo, hi = attacker.bounds(model.figures[figure])
        spent = attacker.solves - before
        once += spent == 1 and lo == hi
        twice += spent == 2 and lo == hi
    print(f"pins: {once} pinned figures solved once, {twice} solved twice (target: some once, none twice)")


if __name__ == "__main__":
    pushes()
    pins()
