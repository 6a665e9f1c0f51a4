"""The search's disclosure audit: attack a suppression pattern by linear programming, to find what to repair.

This attack is tuned for speed (the shortcuts of attacker.py) and serves the search (suppression.py); whether a pattern
is published is decided by the plain verifier of verify.py, which restates these rules without shortcuts.

For every primary cell the attacker's interval is the minimum and maximum of its value over everything the
release publishes about its block, jointly: every published figure fixed to its value, every inner cell >= 0,
and the inequalities the attacker knows from how the figures are defined (see linear_model.py). This is the classic
audit of tau-Argus and sdcTable (Hundepool et al., Statistical Disclosure Control, Wiley 2012, section 4.3),
solved with HiGHS (Huangfu and Hall 2018) through highspy.

Protection required (`Level`, configurable):
- a count with 0 < n < k: the upper bound at least n + 1 and the interval at least 2 wide, so that a
  respondent cannot even learn that nobody else gave the same answer. This is the rule GaussSuppression
  applies to frequency tables with `protectionIntervals = TRUE` (PrimaryDefault, R package GaussSuppression,
  Statistics Norway: "the upper bound must be at least 1 above the observed frequency, and the total interval
  width must be at least 2");
- any other primary figure (the sums behind a mean or share from fewer than k answers): not exact. Figures
  are integers, so "exact" means the interval holds a single integer;
- a group of a special-category question whose answers all fall into one code (the group-disclosure rule):
  the attacker must not be able to prove that no answer fell into another code, i.e. the maximum of the
  group's other codes together is at least 1;
- an insider (a respondent knows that their own cell is at least 1): for each primary count, with that
  knowledge added, no other hidden count above 0 of the same table that was not exact becomes exact
  (insiders.py).

The attacker itself, block by block and with the points it keeps, is attacker.py; the rules an interval must
keep are rules.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.disclosure.attacker import Attacker
from pipeline.disclosure.insiders import insider_change_failures, insider_failures, insiders_of
from pipeline.disclosure.linear_model import CHANGE, COUNT, LinearModel, others_of
from pipeline.disclosure.rules import (
    INF,
    TOL,
    Failure,
    Level,
    finite_or_none,
    proven_as_large,
    shown,
    unprotected,
    unprotected_many,
)


@dataclass(frozen=True)
class Interval:
    cell: str
    value: float
    lower: float
    upper: float

    def as_dict(self) -> dict[str, Any]:
        """For the manifest, which is published: the interval the attacker proves, never the true value."""
        upper = finite_or_none(self.upper)
        return {
            "cell": self.cell,
            "lower": round(self.lower, 6),
            "upper": None if upper is None else round(upper, 6),
        }


@dataclass
class Audit:
    """What the attack found. `summary()` goes into the release manifest."""

    passed: bool
    cells: int
    primary: int
    secondary: int
    narrowest: Interval | None
    failures: list[str]
    blocks: int
    seconds: float
    solves: int = 0
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    problems: list[Failure] = field(default_factory=list, repr=False)
    # the publish gate's own check of the pattern found (verify.py): its LP solves and seconds
    gate_solves: int = 0
    gate_seconds: float = 0.0

    @classmethod
    def combine(cls, audits: list[Audit]) -> Audit:
        """The audit of a release from the audits of its independent parts (its waves)."""
        narrowest = [a.narrowest for a in audits if a.narrowest is not None]
        return cls(
            passed=all(a.passed for a in audits),
            cells=sum(a.cells for a in audits),
            primary=sum(a.primary for a in audits),
            secondary=sum(a.secondary for a in audits),
            narrowest=min(narrowest, key=lambda i: (i.upper - i.lower, i.cell), default=None),
            failures=[f for a in audits for f in a.failures],
            blocks=sum(a.blocks for a in audits),
            seconds=sum(a.seconds for a in audits),
            solves=sum(a.solves for a in audits),
            intervals={cell: b for a in audits for cell, b in a.intervals.items()},
            gate_solves=sum(a.gate_solves for a in audits),
            gate_seconds=sum(a.gate_seconds for a in audits),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "cells": self.cells,
            "primary": self.primary,
            "secondary": self.secondary,
            "narrowest": self.narrowest.as_dict() if self.narrowest else None,
            "failures": self.failures[:20],
            "failure_count": len(self.failures),
            "blocks": self.blocks,
            "lp_solves": self.solves,
            "seconds": round(self.seconds, 3),
            "gate_lp_solves": self.gate_solves,
            "gate_seconds": round(self.gate_seconds, 3),
        }


def attack(
    model: LinearModel,
    hidden: np.ndarray,
    primary: np.ndarray,
    k: int,
    groups: list[tuple[np.ndarray, int]] | None = None,
    level: Level | None = None,
    insider: bool = True,
    full: bool = False,
    split: bool = True,
    attacker: Attacker | None = None,
) -> Audit:
    """Attack the pattern `hidden` (figures not published) and check every `primary` figure.

    `groups`: (answer-count figures of a group, its one answered code) for the group-disclosure rule.
    `full`: compute every primary interval exactly (else only as far as needed, see the module docstring).
    `split`: solve per independent block (False: one problem for all, to measure what splitting gains).
    `attacker`: the attacker of this very pattern, if the caller has one already (its solved points are reused).
    """
    started = time.perf_counter()
    level = level or Level()
    hidden = model.hiding(hidden)
    attacker = attacker or Attacker(model, hidden, split=split)
    solves_before = attacker.solves  # an attacker reused across rounds and repairs counts them all
    values = model.figure_values
    problems: list[Failure] = []
    intervals: dict[int, tuple[float, float]] = {}
    observed: dict[int, tuple[float, float]] = {}

    checked = np.flatnonzero(primary)
    small = (model.kind[checked] == COUNT) & (values[checked] > 0) & (values[checked] < k)
    change = model.kind[checked] == CHANGE  # primary only where 0 < d < k (`primary_cells`)
    if not full:
        counts = checked[small]
        attacker.cover(model.figures[counts], values[counts] + level.upper, values[counts] + level.upper - level.width)
        sums = checked[~small & ~change & (model.kind[checked] != COUNT)]
        attacker.cover(model.figures[sums], values[sums] + 1, np.full(len(sums), INF))  # not exact: one more
        changes = checked[change]  # not provably as large as it is: one less
        attacker.cover(model.figures[changes], np.full(len(changes), -INF), values[changes] - 1)
    in_groups = np.zeros(model.n_figures, bool)
    in_groups[np.concatenate([members for members, _ in groups or []] + [np.zeros(0, int)])] = True
    targets = model.figures[checked]
    n_unknown = (abs(targets) @ (~attacker.known).astype(float)) if len(checked) else np.zeros(0)
    skip = (
        ~small
        & ~change
        & (
            in_groups[checked]  # a small group's zeros and a one-code group's counts: their protection is the group's
            | ((model.kind[checked] == COUNT) & (values[checked] == 0))
            | (n_unknown == 0)  # a sum of published cells (a top-2 share of 0 beside published zeros) discloses nothing
        )
    )
    lo, hi, _ = attacker.observed_many(targets)
    doubt = full | unprotected_many(lo, hi, values[checked], small, level, change)
    least: dict[int, float] = {}  # the narrowest interval a figure that passes can have
    for i in np.flatnonzero(~skip & ~doubt & ~change):  # the narrowest interval is of the releases' cells
        observed[int(checked[i])] = (lo[i], hi[i])
        least[int(checked[i])] = level.width if small[i] else 1.0  # not exact: two integers at least
    for i in np.flatnonzero(~skip & doubt):
        figure, is_small, target, value = int(checked[i]), bool(small[i]), targets[i], values[checked[i]]
        if change[i]:
            lower = attacker.bounds(target, sense=-1)[0]
            if proven_as_large(lower, value):
                text = f"{model.keys[figure]} = {value:g}: attacker proves it at least {lower:g} (lower)"
                problems.append(Failure(figure, "lower", text, target, -1, helpful=attacker.helpful(target, -1)))
            continue
        upper = None
        if is_small and hi[i] < value + level.upper - TOL:  # the upper bound is in doubt: settle it first
            _, upper = attacker.bounds(target, sense=1)
            if upper < value + level.upper - TOL:
                text = f"{model.keys[figure]} = {value:g}: attacker's upper bound {shown(upper)} (upper)"
                problems.append(Failure(figure, "upper", text, target, 1, helpful=attacker.helpful(target, 1)))
                continue
        lo_i, hi_i = attacker.bounds(target, sense=0 if upper is None else -1)
        hi_i = hi_i if upper is None else upper
        intervals[figure] = (lo_i, hi_i)
        reason = unprotected(lo_i, hi_i, value, is_small, level)
        if reason:
            sense = 1 if reason == "upper" else 0
            text = f"{model.keys[figure]} = {value:g}: attacker interval [{lo_i:g}, {shown(hi_i)}] ({reason})"
            problems.append(Failure(figure, reason, text, target, sense, helpful=attacker.helpful(target, sense)))

    if groups:
        # per one-code group, the sum of its other codes: the attacker must not prove it 0
        others = others_of(model.figures, groups)
        _, upper, _ = attacker.observed_many(others)
        for g in np.flatnonzero(upper < 1 - TOL):
            target = others[g]
            _, hi_g = attacker.bounds(target, sense=1)
            if hi_g < 1 - TOL:
                key = model.keys[groups[g][1]]
                text = f"{key}: every answer of the group provably in this code (others at most {hi_g:g})"
                helpful = attacker.helpful(target, 1)
                problems.append(Failure(int(groups[g][1]), "group", text, target, 1, helpful=helpful))

    if insider and not problems:  # the costly insider attack only on a pattern that holds against outsiders
        level_counts = np.zeros(model.n_figures, bool)
        level_counts[checked[small]] = True
        insiders = insiders_of(model, attacker, primary, values)
        problems += insider_failures(model, attacker, hidden, insiders, values, level_counts, level)
        problems += insider_change_failures(model, attacker, insiders, primary, values)

    # a failing pattern is not published: its narrowest interval is only reported among those solved anyway
    narrowest = _narrowest(model, attacker, intervals, {} if problems else observed, least, values)
    secondary = int((hidden & ~primary).sum())
    return Audit(
        passed=not problems,
        cells=model.n_figures,
        primary=int(primary.sum()),
        secondary=secondary,
        narrowest=narrowest,
        failures=[p.text for p in problems],
        blocks=attacker.n_blocks,
        seconds=time.perf_counter() - started,
        solves=attacker.solves - solves_before,
        intervals={model.keys[f]: b for f, b in intervals.items()},
        problems=problems,
    )


def cured(attacker: Attacker, failure: Failure, level: Level) -> bool:
    """Whether the attacker (after more was hidden) can no longer prove what `failure` found: by the points
    found so far if they suffice, else by solving the failing bound."""
    if failure.reason == "group":
        _, hi = attacker.observed(failure.target)
        if hi < 1 - TOL:
            _, hi = attacker.bounds(failure.target, sense=1)
        return hi >= 1 - TOL
    value = float((failure.target @ attacker.model.values)[0])
    small = failure.reason.endswith(("upper", "width"))  # an outsider's or an insider's level
    change = failure.reason.endswith("lower")
    lo, hi = attacker.observed(failure.target)
    if not unprotected(lo, hi, value, small, level, change):
        return True
    lo, hi = attacker.bounds(failure.target, sense=failure.sense)
    return not unprotected(lo, hi, value, small, level, change)


def shown_anyway(model: LinearModel, primary: np.ndarray, published: np.ndarray) -> np.ndarray:
    """The primary changes between two releases that what is published whatever the pattern (`published`: the
    previous release's published figures, this one's grand totals and zeros) proves as large as they are.
    No pattern protects them, and they are exempt: the change of a grand total (how many answered since)
    and what it and published zeros of either release fix (one newcomer beside zeros for "weiß nicht" and
    "keine Angabe" in both releases adds one valid answer to the margin, whatever else is hidden)."""
    out = np.zeros(model.n_figures, bool)
    changes = np.flatnonzero(primary & (model.kind == CHANGE))
    if not changes.size:
        return out
    attacker = Attacker(model, ~published)
    targets, values = model.figures[changes], model.figure_values[changes]
    lo, _ = attacker.cover(targets, np.full(len(changes), -INF), values - 1)
    for i in np.flatnonzero(proven_as_large(lo, values)):
        out[changes[i]] = proven_as_large(attacker.bounds(targets[i], sense=-1)[0], values[i])
    return out


def _narrowest(
    model: LinearModel,
    attacker: Attacker,
    intervals: dict[int, tuple[float, float]],
    observed: dict[int, tuple[float, float]],
    least: dict[int, float],
    values: np.ndarray,
) -> Interval | None:
    """The narrowest interval among checked primary figures, solving figures only while one could be narrower.
    A figure's interval is at least as wide as the points prove and as its protection rule allows (`least`: a
    small count of a passing pattern is never narrower than the protection level). The figures the points
    show narrower than that level (sums the audit only had to show not exact) are first pushed up jointly,
    which shows most of them as wide; then figures are solved in order of their lower bound until none could
    be narrower than the best found; among figures that could be equally narrow, those with the most points
    at their largest value first (a ceiling many vertices run into is most likely the true upper bound). Among
    equally narrow intervals the one solved first is kept."""
    best = min(intervals.items(), key=lambda kv: (kv[1][1] - kv[1][0], model.keys[kv[0]]), default=None)
    level = max(least.values(), default=0.0)
    doubtful = np.array([f for f, (lo, hi) in observed.items() if hi - lo < level - TOL and least[f] < level], int)
    if len(doubtful) > 1:
        lo = np.array([observed[f][0] for f in doubtful])
        attacker.cover(model.figures[doubtful], lo + level, np.full(len(doubtful), INF), 3)
        lo, hi, _ = attacker.observed_many(model.figures[doubtful])
        observed.update(zip(doubtful.tolist(), zip(lo, hi, strict=True), strict=True))

    def at_least(figure: int) -> float:
        lo, hi = observed[figure]
        return max(hi - lo, least[figure])

    candidates = np.array(sorted(observed), int)
    at_ceiling = dict(zip(candidates.tolist(), attacker.at_ceiling(model.figures[candidates]).tolist(), strict=True))
    for figure in sorted(observed, key=lambda f: (at_least(f), -at_ceiling[f], model.keys[f])):
        if best is not None and at_least(figure) >= best[1][1] - best[1][0] - TOL:
            break
        lo = observed[figure][0]
        target = model.figures[figure]
        _, hi = attacker.bounds(target, sense=1)
        if best is not None and hi - lo >= best[1][1] - best[1][0]:
            continue  # the upper bound alone shows it is no narrower (the lower bound is at most lo)
        exact = attacker.bounds(target, sense=-1)[0], hi
        intervals[figure] = exact
        if best is None or exact[1] - exact[0] < best[1][1] - best[1][0]:
            best = (figure, exact)
    if best is None:
        return None
    figure, (lo, hi) = best
    return Interval(str(model.keys[figure]), float(values[figure]), float(lo), float(hi))
