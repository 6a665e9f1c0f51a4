"""The suppression pattern of one part of a release (a part shares nothing with the rest of the model, see
linear_model.py): primary and secondary suppression, until the audit passes.

Primary suppression (`primary_cells`)
    every count with 0 < n < k; the mean and top-2 share (and so their sums) of every row whose n_valid < k;
    every count of a group (wave, organisation type including 'insgesamt', item or Handlungsfeld: its answer
    counts, valid answers, free-text counts) with fewer than k respondents, zeros included, so that its
    zeros do not tell which code its few respondents chose (or that they wrote nothing); every figure of an
    organisation type with fewer than k respondents in the wave, zeros included (that they skipped an item);
    with the group rule (GDPR Art. 9, on by default), every count of a group of a special-category item whose
    responses all fall into one answer code; and every count of a margin 'insgesamt' whose answers all fall
    into one code while it holds a small group: its zeros would tell every small group's answers.

Secondary suppression (`gauss_suppress`): the Gaussian-elimination method of Statistics Norway
    (Langsrud, Ø. 2024. "Secondary Cell Suppression by Gaussian Elimination: An Algorithm Suitable for
    Handling Issues with Zeros and Singletons". Privacy in Statistical Databases, LNCS 14915, 75-91; the R
    packages SSBtools/GaussSuppression). The candidates are taken in order of preference for publication and
    used to reduce the model by Gaussian elimination; a candidate that would completely eliminate a primary
    cell (make it a linear combination of what is published) is suppressed instead. Our order, most preferred to
    publish first: the grand totals (a Handlungsfeld's or theme's 'insgesamt' n_respondents and free-text count,
    never hidden unless primary; an item's n_answered 'insgesamt' only where its field's n_respondents gives it
    away; else beside its n_valid it tells how many answered outside the scale, where the mean needs n_valid) and
    every zero (a zero protects nothing: hidden beside a small cell it leaves the cell's upper bound at its true
    value, so zeros are never partners); then by the information a figure carries, its count (margins before the
    cells they sum, n_valid before the mean and share it allows), so small counts are suppressed before large ones
    and before margins. A mean or share
    is published only with its n_valid. Zeros known from published zero margins are taken out of the model
    (GaussSuppression's zero handling); the group rule adds, as GaussSuppression's `xExtraPrimary`, the sum
    of a group's other codes as a virtual primary cell.

Rows before the audit (`_repair_rows`)
    Gaussian elimination rules out exact disclosure by linear algebra; it does not see non-negativity,
    intervals that are too narrow, or insiders. Most narrow intervals it leaves are visible in a group's own
    published sums alone (row_check.py: n_valid and the value sum over three hidden counts move one of them
    by half an answer), and so are most an insider's knowledge leaves in their own group (one who answered
    "keine Angabe" beside a published n_answered bounds the other hidden answers); those rows are repaired
    first, with the cheapest figure of the row that helps.

Iterating with the audit (`suppress`)
    The LP audit (audit.py) finds what is left, and each failure is
    repaired in the attacker's own LP (`_repair`): the cheapest published figure its bound rests on (read
    from the LP duals: a binding published figure, or a published cell with a non-zero reduced cost; a
    margin 'Insgesamt' only when nothing else helps) is hidden and the bound solved again, until it is wide
    enough. This is the LP-based secondary suppression of tau-Argus and sdcTable (Hundepool et al.,
    Statistical Disclosure Control, Wiley 2012, section 4.3) for what the elimination leaves. Then the whole
    pattern is audited again (the insider attack runs on a pattern that holds against outsiders). The loop
    is bounded; if it cannot reach a passing audit, the audit says so and the caller refuses the release.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numba
import numpy as np
import scipy.sparse as sp

from pipeline.disclosure.attacker import Attacker
from pipeline.disclosure.audit import Audit, attack, cured, shown_anyway
from pipeline.disclosure.linear_model import (
    CHANGE,
    COUNT,
    DERIVED,
    LinearModel,
    column_blocks,
    others_of,
    row_blocks,
    split_by,
)
from pipeline.disclosure.row_check import Rows
from pipeline.disclosure.rules import Failure, Level
from pipeline.disclosure.verify import verify

# Audits (each but the last followed by repairs) before a part is given up and the release refused. Each round
# hides at least one more figure or the loop ends, so this only bounds the time spent on a hard part: the
# demo's data at 20,000 responses needed 13 rounds for one insider's failure (tests/fixtures/marts_20k).
MAX_ROUNDS = 40

_NONZERO = 1e-9


@dataclass(frozen=True)
class Pattern:
    """One part's suppression: its hidden and primary figures, its last audit, the audits run (rounds) and
    the seconds spent in suppression and audit."""

    hidden: np.ndarray
    primary: np.ndarray
    audit: Audit
    rounds: int
    seconds: dict[str, float]
    groups: list[tuple[np.ndarray, int]] = dataclasses.field(default_factory=list)


def suppress_part(
    part: LinearModel,
    previous_hidden: np.ndarray,
    published_before: np.ndarray,
    settled_before: np.ndarray,
    k: int,
    group_rule: bool,
    level: Level,
    max_rounds: int,
) -> Pattern:
    """`suppress` for one part, as protection.py hands it to this process or a helper process, and the gate:
    a pattern the search found is checked by the plain verifier (verify.py) before it may be published."""
    pattern = suppress(
        part, k, previous_hidden, group_rule, level, max_rounds, published_before=published_before,
        settled_before=settled_before,
    )  # fmt: skip
    audit = dataclasses.replace(pattern.audit, problems=[])  # the problems stay here
    if audit.passed:
        verdict = verify(part, pattern.hidden, pattern.primary, k, pattern.groups, level)
        audit = dataclasses.replace(
            audit,
            passed=verdict.passed,
            failures=[f"gate: {text}" for text in verdict.failures],
            gate_solves=verdict.solves,
            gate_seconds=verdict.seconds,
        )
    return dataclasses.replace(pattern, audit=audit)


def ready() -> None:
    """Nothing: submitted only to start a helper process (it imports this module to run it)."""


def suppress(
    model: LinearModel,
    k: int,
    previous_hidden: np.ndarray,
    group_rule: bool = True,
    level: Level | None = None,
    max_rounds: int = MAX_ROUNDS,
    secondary: bool = True,
    published_before: np.ndarray | None = None,
    settled_before: np.ndarray | None = None,
) -> Pattern:
    """Primary cells, secondary suppression, then audit and repairs in turn until the audit passes (or rounds
    run out: a round is one audit).

    `secondary=False` skips secondary suppression (to show that the audit catches an unprotected pattern).
    `published_before`: figures a previous release published; they stay published (and are not re-judged).
    `settled_before`: figures of a previous release that were no primary cells by its settings (not judged).
    """
    level = level or Level()
    previous_hidden = model.hiding(previous_hidden)
    primary, groups = primary_cells(model, k, group_rule)
    if published_before is None:
        published_before = np.zeros(model.n_figures, bool)
    not_judged = published_before if settled_before is None else published_before | settled_before
    primary &= ~not_judged
    groups = [(members, answered) for members, answered in groups if not not_judged[members].any()]
    forced = _forced(model, primary, previous_hidden) | published_before
    primary &= ~shown_anyway(model, primary, forced)
    eligible = _eligible(model, primary, previous_hidden) & ~published_before
    cost = _cost(model)
    timing = {"suppression": 0.0, "audit": 0.0}
    t0 = time.perf_counter()
    if secondary:
        hidden = gauss_suppress(model, primary, forced, previous_hidden, groups, cost)
    else:
        hidden = primary | previous_hidden
    hidden = _with_dependants(model, hidden)
    if secondary:
        hidden = _repair_rows(model, hidden, primary, eligible, cost, level, k)
    attacker = Attacker(model, hidden)
    timing["suppression"] += time.perf_counter() - t0
    # the margins 'Insgesamt' are what the steering group reads first: a repair hides one only when nothing
    # else would help
    preferred = ~model.margin
    rounds = 0
    while True:
        rounds += 1
        t0 = time.perf_counter()
        audit = attack(model, hidden, primary, k, groups, level, attacker=attacker)
        timing["audit"] += time.perf_counter() - t0
        if audit.passed or not secondary or rounds >= max_rounds:
            break
        t0 = time.perf_counter()
        repaired, attacker = _repair(model, attacker, audit.problems, hidden, eligible, preferred, cost, level)
        if not (repaired & ~hidden).any():
            break  # nothing left to hide that would help: the audit fails, the caller refuses the release
        hidden = repaired
        timing["suppression"] += time.perf_counter() - t0
    timing["last_audit"] = audit.seconds
    return Pattern(hidden, primary, audit, rounds, timing, groups)


def primary_cells(
    model: LinearModel, k: int, group_rule: bool = True, small_counts: bool = True
) -> tuple[np.ndarray, list[tuple[np.ndarray, int]]]:
    """Primary figures, and the groups whose every answer is in one code (their counts, and that code).

    A group (wave, organisation type, item; a field's free texts) with fewer than k respondents is hidden
    whole, zeros included: its published zeros would tell which code its few respondents chose. So is every
    figure of an organisation type with fewer than k respondents in the wave (the most it has in one item or
    Handlungsfeld), zeros included: an item or field it has 0 in would tell what its few respondents
    skipped. So is, with the group rule, a group of a special-category item whose answers all fall into one
    code, and so is a margin 'insgesamt' whose answers all fall into one code while one of its small groups
    does: the margin's published zeros would prove the small group's answers whatever else is hidden. For
    such one-code groups the audit demands that the other codes could together hold an answer. In the joint
    model of two releases, so is every change of a count by 0 < d < k respondents (the audit demands that
    it cannot be proven as large as it is).

    `small_counts` False leaves out the first rule, a count of 1 to k-1 itself (the cell key method publishes
    such counts perturbed); the rules on groups stay.
    """
    values = model.figure_values
    counts = model.kind == COUNT
    primary = counts & (values > 0) & (values < k) & small_counts
    derived = model.kind == DERIVED
    basis = model.basis[derived]
    primary[np.flatnonzero(derived)] = (values[basis] < k) & small_counts
    of = model.respondents_of
    in_group = of >= 0
    group_size = values[np.maximum(of, 0)]
    primary |= in_group & (group_size > 0) & (group_size < k)
    primary |= (model.type_respondents >= 0) & (model.type_respondents < k)
    groups: list[tuple[np.ndarray, int]] = []
    with_small_in_one_code: set[int] = set()  # the margin groups of small groups whose answers are all in one code
    for g, (members, respondents, special) in enumerate(
        zip(model.groups, model.group_answered, model.special, strict=True)
    ):
        answered = members[values[members] > 0]
        small = 0 < values[respondents] < k
        if small or (group_rule and special and len(answered) == 1):
            primary[members] = True
            if len(answered) == 1 and len(members) > 1:
                groups.append((members, int(answered[0])))
                with_small_in_one_code.add(int(model.group_margin[g]))
    for g, members in enumerate(model.groups):
        answered = members[values[members] > 0]
        margin = model.group_margin[g] == g and g in with_small_in_one_code
        if margin and len(answered) == 1 and not primary[members].all():
            primary[members] = True  # its published zeros would prove every small group in it one-code
            groups.append((members, int(answered[0])))
    change = model.kind == CHANGE  # between two releases: a change of 0 < d < k respondents, whatever its group
    primary[change] = (values[change] > 0) & (values[change] < k)
    return primary, groups


def gauss_suppress(
    model: LinearModel,
    protect_set: np.ndarray,
    forced: np.ndarray,
    hidden_before: np.ndarray,
    groups: list[tuple[np.ndarray, int]],
    cost: np.ndarray,
) -> np.ndarray:
    """Secondary suppression by Gaussian elimination (Langsrud 2024), per independent block of the model.

    Every figure in `protect_set` must stay linearly underivable from the published ones; `forced` figures are
    published (a forced one that gives a protected figure away is published anyway: the audit reports it);
    `hidden_before` figures are hidden without needing protection. Returns the hidden figures.
    """
    figures = model.figures
    values = model.figure_values
    zero_published = forced & (values == 0)
    known_zero = np.zeros(figures.shape[1], bool)
    known_zero[figures[np.flatnonzero(zero_published & model.non_negative)].indices] = True

    n_blocks, block_of_var = column_blocks(figures)
    block_of_figure = row_blocks(figures, block_of_var)

    suppressed = protect_set | hidden_before
    candidates = ~suppressed & ~zero_published & (block_of_figure >= 0)
    order = np.lexsort((model.keys.astype(str), -cost, ~forced))  # forced first, then most informative first
    order = order[candidates[order]]
    by_block_candidates = split_by(order, block_of_figure[order], n_blocks)
    protected = np.flatnonzero(protect_set & (block_of_figure >= 0))
    by_block_protected = split_by(protected, block_of_figure[protected], n_blocks)
    virtual = others_of(figures, groups)
    block_of_virtual = row_blocks(virtual, block_of_var)
    with_terms = np.flatnonzero(block_of_virtual >= 0)
    by_block_virtual = split_by(with_terms, block_of_virtual[with_terms], n_blocks)

    for block in range(n_blocks):
        cand = by_block_candidates[block]
        prot = by_block_protected[block]
        extra = virtual[by_block_virtual[block]]
        if not len(cand) or not (len(prot) or extra.shape[0]):
            continue
        hide = _eliminate(figures, cand, prot, extra, known_zero, forced, model.basis, suppressed)
        suppressed[cand[hide]] = True
    return suppressed


def _eliminate(
    figures: sp.csr_matrix,
    cand: np.ndarray,
    prot: np.ndarray,
    extra: sp.csr_matrix,
    known_zero: np.ndarray,
    forced: np.ndarray,
    basis: np.ndarray,
    suppressed: np.ndarray,
) -> np.ndarray:
    """One block: which candidates (in their order) to suppress so that no protected column is eliminated."""
    candidate_rows = figures[cand]
    protected_rows = sp.vstack([figures[prot], extra]).tocsr()
    used = np.unique(np.concatenate([candidate_rows.indices, protected_rows.indices]))
    rows = used[~known_zero[used]]
    m = _dense_transposed(candidate_rows, rows)
    p = _dense_transposed(protected_rows, rows)
    # a protected column's non-zero entries (0: eliminated), counted on the terms, not the dense copy
    terms = protected_rows.tocoo()  # one entry per place: _dense_transposed summed the duplicates
    nonzero = ~known_zero[terms.col] & (np.abs(terms.data) > _NONZERO)
    filled = np.bincount(terms.row[nonzero], minlength=protected_rows.shape[0])
    hide = np.zeros(len(cand), bool)
    needs = basis[cand].astype(np.int64)
    _eliminate_in_order(m, p, filled, hide, cand.astype(np.int64), forced[cand], needs, suppressed)
    return hide


@numba.njit(cache=True)
def _reduce(p: np.ndarray, m: np.ndarray, j: int, h: int, pivot: int, rows: np.ndarray, write: bool) -> int:
    """Eliminate candidate `j`'s pivot from protected column `h` over the candidate's `rows` (written into `p`
    only if `write`). Returns the change in the column's count of non-zero entries."""
    ratio = p[pivot, h] / m[pivot, j]
    change = 0
    for r in rows:
        before = p[r, h]
        after = before - m[r, j] * ratio
        if r == pivot or abs(after) <= 1e-7 * (1.0 + abs(before)):
            after = 0.0  # only rounding is left
        change += int(after != 0.0) - int(abs(before) > _NONZERO)
        if write:
            p[r, h] = after
    return change


# compiled when the module is imported (or loaded from numba's cache beside it): one signature, so a call
# with other types fails at once instead of compiling anew in the middle of a run
@numba.njit("void(f8[:, :], f8[:, :], i8[::1], b1[::1], i8[::1], b1[::1], i8[::1], b1[::1])", cache=True)
def _eliminate_in_order(
    m: np.ndarray,
    p: np.ndarray,
    filled: np.ndarray,
    hide: np.ndarray,
    cand: np.ndarray,
    is_forced: np.ndarray,
    needs: np.ndarray,
    suppressed: np.ndarray,
) -> None:
    """The elimination proper, candidate after candidate (each depends on all before it): compiled, since a
    Python step per candidate cost more than its arithmetic. `m` (cells × candidates) and `p` (cells ×
    protected) are reduced in place; `hide` and `suppressed` are set."""
    n_rows, n_cand = m.shape
    nz = np.empty(n_rows, np.int64)
    hit = np.empty(p.shape[1], np.int64)
    for j in range(n_cand):
        if needs[j] >= 0 and suppressed[needs[j]]:
            hide[j] = True  # a mean or share is published only with its n_valid
            suppressed[cand[j]] = True
            continue
        n_nz, pivot, largest = 0, -1, 0.0
        for r in range(n_rows):
            size = abs(m[r, j])
            if size > _NONZERO:
                nz[n_nz] = r
                n_nz += 1
                if size > largest:
                    pivot, largest = r, size
        if n_nz == 0:
            continue  # already derivable from what is published: publishing it adds nothing
        n_hit = 0
        for h in range(p.shape[1]):
            if filled[h] > 0 and abs(p[pivot, h]) > _NONZERO:  # 0: already eliminated
                hit[n_hit] = h
                n_hit += 1
        # a protected column left without entries would be derivable: then the candidate is hidden instead
        rows = nz[:n_nz]
        gone = False
        for h in hit[:n_hit]:
            if filled[h] + _reduce(p, m, j, h, pivot, rows, False) == 0:
                gone = True
                break
        if gone and not is_forced[j]:
            hide[j] = True
            suppressed[cand[j]] = True
            continue
        for h in hit[:n_hit]:
            filled[h] += _reduce(p, m, j, h, pivot, rows, True)
        for k in range(j + 1, n_cand):
            if abs(m[pivot, k]) > _NONZERO:
                factor = m[pivot, k] / m[pivot, j]
                for r in rows:
                    m[r, k] -= m[r, j] * factor
                m[pivot, k] = 0.0


def _dense_transposed(matrix: sp.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """`matrix[:, columns].T` as a dense Fortran array (columns absent from `columns` dropped)."""
    position = np.full(matrix.shape[1], -1)
    position[columns] = np.arange(len(columns))
    matrix.sum_duplicates()  # one entry per place: assigned, not accumulated
    terms = matrix.tocoo()
    keep = position[terms.col] >= 0
    out = np.zeros((len(columns), matrix.shape[0]), order="F")
    out[position[terms.col[keep]], terms.row[keep]] = terms.data[keep]
    return out


REPAIR_STEPS = 12  # figures hidden for one failure in one round


def _repair(
    model: LinearModel,
    attacker: Attacker,
    failures: list[Failure],
    hidden: np.ndarray,
    eligible: np.ndarray,
    preferred: np.ndarray,
    cost: np.ndarray,
    level: Level,
) -> tuple[np.ndarray, Attacker]:
    """Hide what each failure's bound rests on until it is wide enough: the cheapest eligible published figure
    among the binding ones (read from the attacker's LP duals: a binding sum, or a published cell with a
    non-zero reduced cost), a margin 'Insgesamt' only when nothing else helps. The attacker is changed in
    place (a hidden sum relaxes its row, a hidden cell becomes an unknown of its block), so the bound is
    solved again at once, from the last basis, and the next figure chosen only if it is still too narrow.
    What the attacker cannot change in place (a cell linking two blocks, a hidden 0) is built anew.
    A failure's first figure is chosen from the duals the audit read when it found the failure, without
    solving again, as long as nothing they rest on has been hidden for an earlier failure (the bound then
    still holds: by LP duality, relaxing rows with a zero dual or freeing cells with a zero reduced cost
    does not move it). Returns the new pattern and its attacker."""
    hidden = hidden.copy()
    hidden_here = np.zeros(model.n_figures, bool)
    for failure in failures:
        for step in range(REPAIR_STEPS):
            if step == 0 and failure.helpful is not None and not hidden_here[failure.helpful].any():
                # nothing the failing bound rested on is hidden yet: the audit's duals still prove it
                helpful = failure.helpful
            else:
                with attacker.knowing(failure.insider) if failure.insider >= 0 else nullcontext():
                    if cured(attacker, failure, level):
                        break
                    helpful = attacker.helpful(failure.target, failure.sense)
            helpful = helpful[eligible[helpful] & ~hidden[helpful]]
            if not helpful.size:
                break
            better = helpful[preferred[helpful]]
            choice = better if better.size else helpful
            more = np.zeros(model.n_figures, bool)
            more[choice[np.argmin(cost[choice])]] = True
            more = _with_dependants(model, more) & ~hidden
            hidden |= more
            hidden_here |= more
            attacker = _hiding_more(model, attacker, hidden, more)
    return hidden, attacker


def _repair_rows(
    model: LinearModel,
    hidden: np.ndarray,
    primary: np.ndarray,
    eligible: np.ndarray,
    cost: np.ndarray,
    level: Level,
    k: int,
) -> np.ndarray:
    """Hide more where a group's own published sums already pin one of its small counts (row_check.py): the
    attacker's interval is never wider than the row's, so the audit would refuse the pattern whatever else is
    hidden, and only hiding one of the row's own figures helps. Of those, the cheapest whose hiding alone
    makes the row pass is hidden (if none does, the cheapest, and the row is checked again). A failure the
    audit would have found, and a repair it would have had to make in this row, without an LP solve."""
    rows = Rows.of(model)
    values = model.figure_values
    small = primary & (model.kind == COUNT) & (values > 0) & (values < k)
    insiders = insider_counts(model, primary)

    def failing(pattern: np.ndarray, which: np.ndarray) -> np.ndarray:
        return rows.failing(pattern, small, level.upper, level.width, which, insiders)

    for row in np.flatnonzero(failing(hidden, np.arange(rows.n))):
        for _ in range(REPAIR_STEPS):
            options = rows.figures_of(row)
            options = options[eligible[options] & ~hidden[options]]
            if not options.size:
                break  # left to the audit, which will refuse the release
            options = options[np.argsort(cost[options], kind="stable")]
            tried = [_with_dependants(model, _with(hidden, figure)) for figure in options]
            fixed = next((t for t in tried if not failing(t, np.array([row]))[0]), None)
            if fixed is not None:
                hidden = fixed
                break
            hidden = tried[0]
    return hidden


def insider_counts(model: LinearModel, primary: np.ndarray) -> np.ndarray:
    """The single-cell counts whose respondents the insider attack takes as insiders (audit.py): those in
    the cells of primary counts of 1 or more (once hidden, the cell is unknown to anyone else)."""
    values = model.figure_values
    own = model.own[model.figures[np.flatnonzero(primary & (model.kind == COUNT) & (values >= 1))].indices]
    out = np.zeros(model.n_figures, bool)
    out[own[own >= 0]] = True
    return out


def _with(hidden: np.ndarray, figure: int) -> np.ndarray:
    out = hidden.copy()
    out[figure] = True
    return out


def _hiding_more(model: LinearModel, attacker: Attacker, hidden: np.ndarray, more: np.ndarray) -> Attacker:
    """The attacker of `hidden`, which hides `more` than the attacker's pattern: changed in place where it can
    be (the hidden figures' rows relax, a cell no published figure fixes any more joins its block), else built
    anew. A figure of one term need not be its cell's own: a margin over a single organisation type publishes
    the same cell as that type's figure, and the cell stays known while either is published."""
    chosen = np.flatnonzero(more)
    attacker.hide(chosen)
    indptr, indices = model.figures.indptr, model.figures.indices
    terms = np.diff(indptr)
    singles = np.flatnonzero(terms == 1)
    fixed = np.zeros(model.figures.shape[1], bool)
    fixed[indices[indptr[singles[~model.hiding(hidden)[singles]]]]] = True
    alone = chosen[terms[chosen] == 1]
    cells = np.unique(indices[indptr[alone]])
    cells = cells[attacker.known[cells] & ~fixed[cells]]
    # a hidden 0 (a top-2 count beside its hidden n_valid) no longer tells that its cells are 0
    if (model.figure_values[more] == 0).any() or not all([attacker.hide_cell(int(var)) for var in cells]):
        return Attacker(model, hidden)
    return attacker


def _with_dependants(model: LinearModel, hidden: np.ndarray) -> np.ndarray:
    """A mean or share whose n_valid is hidden is hidden too."""
    derived = np.flatnonzero(model.kind == DERIVED)
    out = hidden.copy()
    out[derived] |= hidden[model.basis[derived]]
    return out


def _forced(model: LinearModel, primary: np.ndarray, previous_hidden: np.ndarray) -> np.ndarray:
    """Figures that are published whatever happens: the grand totals, and zeros (never a partner)."""
    zero = model.figure_values == 0
    return (model.grand_total | zero) & ~primary & ~previous_hidden


def _eligible(model: LinearModel, primary: np.ndarray, previous_hidden: np.ndarray) -> np.ndarray:
    """Figures a repair may hide: published ones that are neither primary, hidden before nor forced."""
    return ~primary & ~model.hiding(previous_hidden) & ~_forced(model, primary, previous_hidden)


TURNS = 0.5  # a type up to 1.5 times the size of the smallest one may be a small type's partner in its turn


def _cost(model: LinearModel) -> np.ndarray:
    """How much a figure is worth publishing: its count; a margin a little more than a cell of the same size,
    and a mean or share just less than the n_valid it needs (so n_valid is decided first). n_answered and
    n_respondents count half: beside n_valid they tell how many answered outside the scale, one of the two must
    often go, and the steering group reads the mean, which needs n_valid (item means published on the demo:
    36 % → 80 %; benchmarks/README.md). A real organisation type's figures of one wave and Handlungsfeld cost up
    to `TURNS` more by their `turn`: the partners a small type needs go by turns, per Handlungsfeld, to types
    of about its size, so that no type loses its whole column to protect a small one (on the demo: the
    cultural institutions' whole 2025 column before; as many means published)."""
    values = model.figure_values
    margin = np.diff(model.figures.indptr) > 1
    cost = values + 0.5 * margin
    derived = np.flatnonzero(model.kind == DERIVED)
    basis_value = values[model.basis[derived]]
    top2 = model.column[derived] == "top2_share"
    cost[derived] = basis_value + 0.4 - 0.1 * top2
    cost[np.isin(model.column, ["n_answered", "n_respondents"])] *= 0.5
    return cost * (1 + TURNS * model.turn)
