"""The publish gate: a plain check of a suppression pattern, apart from the search that proposed it.

The search (suppression.py with the tuned attacker of audit.py) takes shortcuts to find a pattern quickly:
iteration limits, pushes, convex combinations, compiled kernels. Whether a pattern is published is decided
here, by the protection rules of audit.py's docstring restated on the same linear model and checked without
any of them:

- per part of the model (parts share nothing: `LinearModel.parts`), one linear program, built with highspy's
  public API: every published figure fixed to its value, the attacker's knowledge rows, every inner cell >= 0;
- a bound is HiGHS' optimum, solved to the end. Every solution is a point the attacker cannot exclude (checked
  against the constraints before it counts); a claim that the points kept so far already show (a point where
  a count is n + 1 proves that the attacker's upper bound is at least n + 1) needs no solve of its own. The
  true values are the first point;
- an insider (a respondent in the hidden inner cell of a primary count) knows that cell is at least 1: the
  column's lower bound while their claims are checked, and only points with that cell at least 1 count.

Claims, per primary figure: a count 0 < n < k keeps an upper bound of at least n + `level.upper` and an
interval at least `level.width` wide (whole numbers: bounds rounded inwards); any other primary figure is not
a single whole number (not checked: the zeros and members of a one-code group, whose claim is the group's, and
a figure every inner cell of which is published anyway); a change between two releases is not provably as
large as it is; the other codes of a one-code group can hold an answer. If all hold, for each insider: every
other hidden count above 0 of their tables that an outsider cannot pin stays unpinned, or keeps the count
claim where it is a small primary count of the insider's own group; every primary change of their tables is
not provably as large as it is, except a change by 1 their own cell makes.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from pipeline.disclosure.linear_model import CHANGE, COUNT, LinearModel, others_of
from pipeline.disclosure.rules import Level, narrow, proven_as_large, single_integers

TOL = 1e-6  # HiGHS' feasibility tolerance is 1e-7: a point off by more is not taken as a witness
COUNT_RULE, INEXACT_RULE, CHANGE_RULE = 0, 1, 2
RULES = ("count", "inexact", "change")
EXPLORE = 4


@dataclass(frozen=True)
class Verdict:
    passed: bool
    failures: list[str]
    solves: int
    seconds: float


def verify(
    model: LinearModel,
    hidden: np.ndarray,
    primary: np.ndarray,
    k: int,
    groups: list[tuple[np.ndarray, int]],
    level: Level,
) -> Verdict:
    """Check a part's pattern (`hidden`, the figures not published) against every claim of the docstring."""
    started = time.perf_counter()
    hidden = model.hiding(hidden)
    lp = _Attacker(model, hidden)
    values = model.figure_values
    checked = np.flatnonzero(primary)
    small = (model.kind[checked] == COUNT) & (values[checked] > 0) & (values[checked] < k)
    change = model.kind[checked] == CHANGE
    in_group = np.zeros(model.n_figures, bool)
    for members, _ in groups:
        in_group[members] = True
    public = (abs(model.figures) @ (~lp.known).astype(float)) == 0  # every inner cell of it published anyway
    skip = ~small & ~change & (in_group[checked] | ((model.kind[checked] == COUNT) & (values[checked] == 0)))
    skip |= ~small & ~change & public[checked]
    rules = np.where(change, CHANGE_RULE, np.where(small, COUNT_RULE, INEXACT_RULE))
    failures = [text for _, text in lp.failures(checked[~skip], rules[~skip], level)]
    if groups:
        others = others_of(model.figures, groups)
        _, seen_hi = lp.seen(others)
        for g in np.flatnonzero(seen_hi < 1 - TOL):
            if lp.solve(others[g], 1) < 1 - TOL:
                failures.append(f"{model.keys[groups[g][1]]}: every answer of the group provably in this code")
    if not failures:
        failures = _insider_failures(model, lp, hidden, primary, k, level, public)
    return Verdict(not failures, failures, lp.solves, time.perf_counter() - started)


def _insider_failures(
    model: LinearModel,
    lp: _Attacker,
    hidden: np.ndarray,
    primary: np.ndarray,
    k: int,
    level: Level,
    public: np.ndarray,
) -> list[str]:
    values = model.figure_values
    insiders: dict[int, set[int]] = {}
    for figure in np.flatnonzero(primary & (model.kind == COUNT) & (values >= 1)):
        row = model.figures[figure]
        for var in row.indices[(model.values[row.indices] >= 1) & ~lp.known[row.indices]]:
            insiders.setdefault(int(var), set()).add(int(model.table[figure]))
    tables = np.array(sorted(set().union(*insiders.values())) if insiders else [], int)
    in_tables = np.isin(model.table, tables)
    # a derived count whose defining figures are published is exact to everyone (`LinearModel.determined`)
    counts = np.flatnonzero(
        hidden & (model.kind == COUNT) & (values > 0) & in_tables & ~public & ~model.determined(hidden)
    )
    pinned = [f for f, _ in lp.failures(counts, np.full(len(counts), INEXACT_RULE), level)]
    counts = counts[~np.isin(counts, pinned)]  # exact to everyone: no insider's doing, nor theirs to protect
    changes = np.flatnonzero(primary & (model.kind == CHANGE) & in_tables)
    group = np.where(model.respondents_of >= 0, model.respondents_of, np.arange(model.n_figures))
    small = primary & (model.kind == COUNT) & (values > 0) & (values < k)
    if insiders and counts.size:  # points that hold for every insider at once: each insider's own are fewer
        rng = np.random.default_rng(0)
        with lp.knowing(np.array(list(insiders))):
            for _ in range(EXPLORE):
                joint = sp.csr_matrix(rng.uniform(0.5, 1.5, len(counts)) @ model.figures[counts])
                lp.solve(joint, 1)
                lp.solve(joint, -1)
    failures = []
    for var, theirs in insiders.items():
        own = int(model.own[var])
        who = model.keys[own] if own >= 0 else f"inner cell {var}"
        neighbours = counts[np.isin(model.table[counts], list(theirs)) & (counts != own)]
        levelled = small[neighbours] & (own >= 0) & (group[neighbours] == group[max(own, 0)])
        mine = changes[np.isin(model.table[changes], list(theirs))]
        # the insider's own change by 1: they are it
        mine = mine[~((np.asarray(model.figures[mine][:, [var]].todense()).ravel() > 0) & (values[mine] == 1))]
        figures = np.concatenate([neighbours, mine])
        rules = np.concatenate([np.where(levelled, COUNT_RULE, INEXACT_RULE), np.full(len(mine), CHANGE_RULE)])
        with lp.knowing(np.array([var])):
            failures += [f"{text} to a respondent in {who}" for _, text in lp.failures(figures, rules, level)]
    return failures


def _known(model: LinearModel, hidden: np.ndarray) -> np.ndarray:
    """The inner cells published anyway: by their own figure, or inside a published 0 (a sum of non-negative
    terms). A figure of known cells only discloses nothing when hidden; an insider's cell is not known."""
    own = model.own
    known = (own >= 0) & ~hidden[np.maximum(own, 0)]
    zeros = np.flatnonzero(~hidden & (model.figure_values == 0) & model.non_negative)
    known[model.figures[zeros].indices] = True
    return known


class _Attacker:
    """The attacker's linear program of one part, and the feasible points found so far."""

    def __init__(self, model: LinearModel, hidden: np.ndarray) -> None:
        self.model = model
        published = np.flatnonzero(~hidden)
        self.rows = sp.vstack([model.figures[published], model.knowledge]).tocsr()
        self.lo = np.concatenate([model.figure_values[published], model.knowledge_lo])
        self.hi = np.concatenate([model.figure_values[published], model.knowledge_hi])
        self.known = _known(model, hidden)
        self.highs = _highs()
        n = self.rows.shape[1]
        inf = highspy.kHighsInf
        self.highs.addVars(n, np.zeros(n), np.full(n, inf))
        self.highs.addRows(
            self.rows.shape[0],
            np.where(np.isfinite(self.lo), self.lo, -inf),
            np.where(np.isfinite(self.hi), self.hi, inf),
            self.rows.nnz,
            self.rows.indptr[:-1].astype(np.int32),
            self.rows.indices.astype(np.int32),
            self.rows.data.astype(float),
        )
        self._points = np.zeros((n, 64))
        self._points[:, 0] = model.values
        self.n_points = 1
        self.insiders = np.zeros(0, int)
        self.solves = 0

    @contextmanager
    def knowing(self, variables: np.ndarray) -> Iterator[None]:
        """Insiders' knowledge: each of their own inner cells is at least 1."""
        n = len(variables)
        self.highs.changeColsBounds(n, variables.astype(np.int32), np.ones(n), np.full(n, highspy.kHighsInf))
        self.insiders = variables
        try:
            yield
        finally:
            self.highs.changeColsBounds(n, variables.astype(np.int32), np.zeros(n), np.full(n, highspy.kHighsInf))
            self.insiders = np.zeros(0, int)

    def seen(self, targets: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The smallest and largest value of each target at the points kept (those the insider's knowledge
        allows)."""
        points = self._points[:, : self.n_points]
        at = np.asarray(targets @ points)
        if self.insiders.size:
            at = at[:, (points[self.insiders] >= 1 - TOL).all(axis=0)]
        return at.min(axis=1), at.max(axis=1)

    def failures(self, figures: np.ndarray, rules: np.ndarray, level: Level) -> list[tuple[int, str]]:
        """The claims of `figures` (by `rules`) that do not hold: those the points kept show are settled at once,
        each other one by solving the bound that decides it (the upper one first: a count's claim needs it)."""
        figures = np.asarray(figures, int)
        if not figures.size:
            return []
        values = self.model.figure_values[figures]
        targets = self.model.figures[figures]
        lo, hi = self.seen(targets)
        doubt = ~_holds(lo, hi, values, rules, level)
        rng = np.random.default_rng(len(figures))
        while doubt.sum() > 2:  # points that move the doubtful figures together settle many at once
            weights = rng.uniform(0.5, 1.5, int(doubt.sum()))
            joint = sp.csr_matrix(weights @ targets[doubt])
            before = int(doubt.sum())
            self.solve(joint, 1)
            self.solve(joint, -1)
            lo, hi = self.seen(targets)
            doubt = ~_holds(lo, hi, values, rules, level)
            if before - int(doubt.sum()) < 4:  # two solves that settle fewer than one each alone would
                break
        out = []
        for i in np.flatnonzero(doubt):
            figure, rule, value = int(figures[i]), rules[i : i + 1], values[i : i + 1]
            target = self.model.figures[figure]
            low, high = self.seen(target)
            if rule[0] == CHANGE_RULE:
                low = np.array([self.solve(target, -1)])
            elif not _holds(low, high, value, rule, level)[0]:
                high = np.array([self.solve(target, 1)])
                if not _holds(low, high, value, rule, level)[0]:
                    low = np.array([self.solve(target, -1)])
            if not _holds(low, high, value, rule, level)[0]:
                name = RULES[int(rule[0])]
                interval = f"[{low[0]:g}, {high[0]:g}]"
                out.append(
                    (figure, f"{self.model.keys[figure]} = {value[0]:g}: attacker's interval {interval} ({name})")
                )
        return out

    def solve(self, target: sp.csr_matrix, sense: int) -> float:
        """The attacker's bound of `target`: its maximum (sense 1) or minimum (-1), solved to optimality."""
        cost = np.zeros(self.rows.shape[1])
        cost[target.indices] = target.data * -sense
        self.highs.changeColsCost(len(cost), np.arange(len(cost), dtype=np.int32), cost)
        self.highs.run()
        self.solves += 1
        status = self.highs.getModelStatus()
        if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return math.inf * sense  # the truth is feasible: unbounded it is
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"the attacker's linear program ended {self.highs.modelStatusToString(status)}")
        point = np.asarray(self.highs.getSolution().col_value)
        if self._feasible(point):
            if self.n_points == self._points.shape[1]:
                self._points = np.hstack([self._points, np.zeros_like(self._points)])
            self._points[:, self.n_points] = point
            self.n_points += 1
        return -sense * self.highs.getInfo().objective_function_value

    def _feasible(self, point: np.ndarray) -> bool:
        at = self.rows @ point
        scale = 1 + np.abs(at)
        return bool(
            (point >= -TOL).all() and (at >= self.lo - TOL * scale).all() and (at <= self.hi + TOL * scale).all()
        )


def _highs() -> highspy.Highs:
    """A silent solver. HiGHS prints its banner to the process's standard output (not Python's) when the first
    solver of a process is made, before any option can be set; the operator's run log is no place for it."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        solver = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                solver = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    solver.setOptionValue("output_flag", False)
    # one model, many objectives: each solve starts from the last basis, which presolving would discard, and
    # the primal simplex keeps it feasible when only the objective changed
    solver.setOptionValue("presolve", "off")
    solver.setOptionValue("simplex_strategy", 4)
    return solver


_BANNER_SHOWN = False


def _holds(lo: np.ndarray, hi: np.ndarray, values: np.ndarray, rules: np.ndarray, level: Level) -> np.ndarray:
    """Whether the attacker's intervals [lo, hi] keep each claim (rules.py: whole numbers, bounds rounded
    inwards)."""
    too_low, too_narrow = narrow(lo, hi, values, level)
    count, inexact = ~too_low & ~too_narrow, ~single_integers(lo, hi)
    return np.select([rules == COUNT_RULE, rules == INEXACT_RULE], [count, inexact], ~proven_as_large(lo, values))
