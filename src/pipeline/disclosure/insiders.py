"""The insider attack of the search: a respondent knows that their own inner cell is at least 1.

An insider (a respondent knows that their own cell is at least 1): for each primary count, with that
knowledge added, no other hidden count above 0 of the same table (one item's or field's figures of one
wave) that was not exact becomes exact (a small group's zeros are protected with their group). The points
found so far settle most pairs without a solve: any convex combination of them with the insider's cell at
least 1 holds under the knowledge (`attacker._reaches`). Points where many insiders' cells are at least 1 at once
settle most of the rest together (`Attacker.spread`: all insiders, then batches that hold at most one
insider of each group); what is left is solved one insider at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.disclosure.attacker import Attacker, pinned
from pipeline.disclosure.linear_model import CHANGE, COUNT, LinearModel, split_by
from pipeline.disclosure.rules import Failure, Level, narrow, proven_as_large, shown


def insiders_of(model: LinearModel, attacker: Attacker, primary: np.ndarray, values: np.ndarray) -> dict[int, set[int]]:
    """The insiders, each with the tables they are in: the respondents in the hidden inner cells (value >= 1)
    of primary counts."""
    owns = np.flatnonzero(primary & (model.kind == COUNT) & (values >= 1))
    terms = model.figures[owns].tocoo()
    inside = ~attacker.known[terms.col] & (model.values[terms.col] >= 1)
    insiders: dict[int, set[int]] = {}
    pairs = np.unique(np.stack([terms.col[inside], model.table[owns[terms.row[inside]]]], axis=1), axis=0)
    for var, table in pairs.tolist():
        insiders.setdefault(var, set()).add(table)
    return insiders


def insider_change_failures(
    model: LinearModel, attacker: Attacker, insiders: dict[int, set[int]], primary: np.ndarray, values: np.ndarray
) -> list[Failure]:
    """A respondent knows their own cell is >= 1: the primary changes of their table between the two releases
    must still not be provable as large as they are (the outsiders' rule). A change their own cell adds to
    counts them too: of a change by d, the others' part is d - 1, under the same rule where d - 1 > 0 (the
    bound on the others' part is the change's less 1), and nothing to protect where d is 1 (they are it)."""
    changes = np.flatnonzero(primary & (model.kind == CHANGE))
    if not changes.size:
        return []
    n_tables = int(model.table.max()) + 1
    by_table = split_by(changes, model.table[changes], n_tables)
    problems = []
    for var, tables in insiders.items():
        theirs = np.concatenate([by_table[t] for t in sorted(tables)])
        theirs = theirs[~((model.figures[theirs][:, [var]].toarray()[:, 0] > 0) & (values[theirs] == 1))]
        if not theirs.size:
            continue
        who = model.keys[model.own[var]] if model.own[var] >= 0 else f"inner cell {var}"
        with attacker.knowing(var):
            lo, _, _ = attacker.observed_many(model.figures[theirs])
            for other in theirs[proven_as_large(lo, values[theirs])]:
                target = model.figures[other]
                lower = attacker.bounds(target, sense=-1)[0]
                if proven_as_large(lower, values[other]):
                    text = (
                        f"{model.keys[other]} = {values[other]:g}: at least {lower:g} to a respondent in {who} "
                        "(who knows their own cell is at least 1; lower)"
                    )
                    problems.append(Failure(int(other), "insider lower", text, target, -1, insider=var))
    return problems


def insider_failures(
    model: LinearModel,
    attacker: Attacker,
    hidden: np.ndarray,
    insiders: dict[int, set[int]],
    values: np.ndarray,
    small: np.ndarray,
    level: Level,
) -> list[Failure]:
    """A respondent knows their own cell is >= 1: the other hidden counts of that table must stay protected.

    The insiders (`insiders_of`) are the respondents in the hidden inner cells (value >= 1) of primary counts;
    each insider's knowledge is checked against the other hidden counts above 0 of the primary's table (a small group's
    zeros are protected with their group): a `small` count (0 < n < k) of the insider's own group under the
    outsiders' rule (upper bound at least n + 1, two integers wide: one who answered "keine Angabe" must not
    prove that the only other answer outside the scale was "weiß nicht"), any other count must not become
    exact. (Other groups' counts are held to "not exact" only: an insider who subtracts themselves from a
    grand total always learns the other types have at most that many fewer, which no pattern can hide.)
    """
    counts = hidden & (model.kind == COUNT) & (values > 0)
    n_tables = int(model.table.max()) + 1 if len(values) else 0
    by_table = split_by(np.flatnonzero(counts), model.table[counts], n_tables)
    group = np.where(model.respondents_of >= 0, model.respondents_of, np.arange(model.n_figures))

    def levelled(variables: list[int], targets: np.ndarray) -> np.ndarray:
        """insiders × targets: where the outsiders' level applies (a small count of the insider's group)."""
        own = model.own[variables]
        theirs = np.where(own >= 0, group[np.maximum(own, 0)], -1)
        return small[targets][None, :] & (group[targets][None, :] == theirs[:, None])

    # a cell exact to everyone is no insider's doing (and the outsider audit judges it): left out. A derived
    # count whose defining figures are published is (most derived counts of large groups): no LP for those
    candidates = np.flatnonzero(counts)
    determined = model.determined(hidden)[candidates]
    rest = candidates[~determined]
    exact_to_all = set(candidates[determined].tolist())
    exact_to_all |= set(rest[pinned(attacker, model.figures[rest], values[rest])].tolist())
    doubts: dict[int, np.ndarray] = {}  # insider -> neighbours the points found so far do not show protected
    by_tables: dict[frozenset[int], list[int]] = {}
    for var, tables in insiders.items():
        by_tables.setdefault(frozenset(tables), []).append(var)
    seen = attacker.seen(model.figures[candidates])
    for tables, variables in by_tables.items():
        neighbours = np.array([g for t in sorted(tables) for g in by_table[t] if g not in exact_to_all], dtype=int)
        if not neighbours.size:
            continue
        subset = np.searchsorted(candidates, neighbours)
        fixed = attacker.fixed_each(
            seen, subset, np.array(variables), values[neighbours], levelled(variables, neighbours)
        )
        exact = fixed & (neighbours != model.own[variables][:, None])
        for i, var in enumerate(variables):
            doubts[var] = neighbours[exact[i]]
    # points with all insiders' cells >= 1 at once settle most doubts before any insider is solved alone
    for batch in _batches(model, doubts):
        doubts = _settle(model, attacker, doubts, batch, values, levelled)
    doubts = _recheck(model, attacker, doubts, values, levelled)
    problems = []
    for var, doubt in doubts.items():
        if not doubt.size:
            continue
        who = model.keys[model.own[var]] if model.own[var] >= 0 else f"inner cell {var}"
        at_level = levelled([var], doubt)[0]
        with attacker.knowing(var) as block:
            plain = doubt[~at_level]
            exact = pinned(attacker, model.figures[plain], values[plain], block)
            for other in plain[exact]:
                text = (
                    f"{model.keys[other]} = {values[other]:g}: exact to a respondent in {who} "
                    "(who knows their own cell is at least 1)"
                )
                problems.append(Failure(int(other), "insider", text, model.figures[other], 0, insider=var))
            for other in doubt[at_level]:
                target = model.figures[other]
                lo, hi = attacker.bounds(target)
                too_low, too_narrow = narrow(lo, hi, values[other], level)
                if too_low or too_narrow:
                    reason = "insider upper" if too_low else "insider width"
                    text = (
                        f"{model.keys[other]} = {values[other]:g}: interval [{lo:g}, {shown(hi)}] to a respondent in "
                        f"{who} (who knows their own cell is at least 1; {reason.split()[1]})"
                    )
                    sense = 1 if too_low else 0
                    problems.append(Failure(int(other), reason, text, target, sense, insider=var))
    return problems


def _batches(model: LinearModel, doubts: dict[int, np.ndarray]) -> list[list[int]]:
    """Insiders to assume at once: first all of them, then the first insider of every group (one
    organisation type's answers to one item), then the second, ... Insiders of one group hold each other's
    cells down (two cells of one respondent each, in a group of two, are both exactly 1 when both are known),
    so the batches keep them apart."""
    insiders = [var for var, doubt in doubts.items() if doubt.size]
    if not insiders:
        return []
    own = model.own[insiders]
    group = np.where(own >= 0, model.respondents_of[np.maximum(own, 0)], -1)
    group = np.where(group >= 0, group, -2 - np.arange(len(insiders)))  # no group: a group of its own
    order = np.lexsort((insiders, group))
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.empty(len(order), int)
    rank[order] = np.arange(len(order)) - start
    return [insiders, *([int(v) for v in np.asarray(insiders)[rank == r]] for r in range(int(rank.max()) + 1))]


def _settle(
    model: LinearModel,
    attacker: Attacker,
    doubts: dict[int, np.ndarray],
    batch: list[int],
    values: np.ndarray,
    levelled: Callable[[list[int], np.ndarray], np.ndarray],
) -> dict[int, np.ndarray]:
    """Drop the doubts a point with all of `batch`'s cells at least 1 at once settles for them (`spread`): a
    count that must only not be exact, moved by 1. A count held to the outsiders' level needs more than one
    such move: the points the pushes found are kept, and `_recheck` looks at them."""
    batch = [var for var in batch if doubts[var].size]
    if not batch:
        return doubts
    doubtful = np.unique(np.concatenate([doubts[var] for var in batch]))
    if not doubtful.size:
        return doubts
    moved = attacker.spread(np.array(batch), model.figures[doubtful], values[doubtful])
    settled = doubtful[moved]
    out = dict(doubts)
    for var in batch:
        doubt = doubts[var]
        out[var] = doubt[~np.isin(doubt, settled) | levelled([var], doubt)[0]]
    return out


def _recheck(
    model: LinearModel,
    attacker: Attacker,
    doubts: dict[int, np.ndarray],
    values: np.ndarray,
    levelled: Callable[[list[int], np.ndarray], np.ndarray],
) -> dict[int, np.ndarray]:
    """The counts held to the outsiders' level still in doubt, looked at again with every point found since
    (the pushes' too)."""
    at_level = {var: levelled([var], doubt)[0] for var, doubt in doubts.items()}
    doubtful = np.unique(np.concatenate([d[at_level[v]] for v, d in doubts.items()] + [np.zeros(0, int)]))
    if not doubtful.size:
        return doubts
    seen = attacker.seen(model.figures[doubtful])
    out = dict(doubts)
    for var, doubt in doubts.items():
        level = doubt[at_level[var]]
        if not level.size:
            continue
        subset = np.searchsorted(doubtful, level)
        fixed = attacker.fixed_each(seen, subset, np.array([var]), values[level], np.ones((1, len(level)), bool))
        out[var] = np.concatenate([doubt[~at_level[var]], level[fixed[0]]])
    return out
