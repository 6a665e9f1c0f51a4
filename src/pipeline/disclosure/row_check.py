"""The row check: what a group's own published sums tell about its hidden answer counts, before any LP.

A group (one wave, one real organisation type, one item) publishes sums over its own answer counts alone:
n_answered, n_valid, and the value sum and top-2 count behind its mean and share. Over the group's hidden
counts (all >= 0) these are a system of at most four equations in at most a dozen unknowns, and the interval
each hidden count has under them alone is cheap to compute exactly: the extreme points of {x >= 0, A x = b}
are its basic feasible solutions (the fundamental theorem of linear programming; Dantzig, Linear Programming and
Extensions, 1963), so the bounds are the least and largest value over all of them (vertex enumeration).

What for: everything the LP audit's attacker uses includes these equations, so the attacker's interval of a
count is never wider than its row's. A small count the row already pins (typically three hidden counts under
n_valid and the value sum: one degree of freedom that moves a count by half an answer) fails the audit
whatever else is hidden, and only hiding one of the row's own figures can help. Found here, it is repaired
before the first audit (suppression.py) instead of by a failed audit, its LP solves and a second round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from pipeline.disclosure.linear_model import COUNT, LinearModel
from pipeline.disclosure.rules import Level, narrow

MAX_UNKNOWNS = 12  # a row with more hidden counts is left to the audit (4,096 subsets to try)


@dataclass(frozen=True)
class Rows:
    """The groups whose counts each publish a single inner cell and which publish sums over them alone, as dense
    arrays padded with -1 figures: `coef` is groups × sums × counts (each sum's coefficient on each count)."""

    coef: np.ndarray
    sum_figure: np.ndarray  # groups × sums
    cell_figure: np.ndarray  # groups × counts
    cell_value: np.ndarray  # groups × counts (0 for padding)
    sum_value: np.ndarray  # groups × sums (0 for padding)
    # the group's counts of respondents over several of its cells (n_answered, n_valid, the derived counts,
    # published or not): groups × totals × counts, and their figures (groups × totals, -1 padding)
    total_coef: np.ndarray
    total_figure: np.ndarray
    total_value: np.ndarray

    @classmethod
    def of(cls, model: LinearModel) -> Rows:
        figures = model.figures
        sizes = np.array([len(members) for members in model.groups], dtype=int)
        members = np.concatenate([*model.groups, np.zeros(0, int)]).astype(int)
        group = np.repeat(np.arange(len(sizes)), sizes)
        single = np.diff(figures.indptr) == 1
        whole = np.ones(len(sizes), bool)  # every count of the group a single cell (not a margin 'insgesamt')
        whole[group[~single[members]]] = False
        mine = whole[group]
        cells = figures.indices[figures.indptr[members[mine]]]
        cell_group = np.full(figures.shape[1], -1)
        cell_group[cells] = group[mine]
        position = np.arange(len(members)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        cell_position = np.full(figures.shape[1], -1)
        cell_position[cells] = position[mine]

        # a sum lies in one group when all its terms do
        terms = figures.tocoo()
        of_term = cell_group[terms.col]
        least = np.full(model.n_figures, np.iinfo(np.int64).max)
        most = np.full(model.n_figures, -1)
        np.minimum.at(least, terms.row, of_term)
        np.maximum.at(most, terms.row, of_term)
        in_one = (least == most) & (most >= 0) & ~single
        sums = np.flatnonzero(in_one & ~model.unpublished)
        sum_group = most[sums]
        with_sums, index = np.unique(sum_group, return_inverse=True)
        n_sums = np.bincount(index, minlength=len(with_sums))
        order = np.argsort(index, kind="stable")
        rank = np.empty(len(sums), int)
        rank[order] = np.arange(len(sums)) - np.repeat(np.cumsum(n_sums) - n_sums, n_sums)

        n_groups, n_counts = len(with_sums), int(sizes.max(initial=0))
        sum_figure = np.full((n_groups, int(n_sums.max(initial=0))), -1)
        sum_figure[index, rank] = sums
        cell_figure = np.full((n_groups, n_counts), -1)
        in_row = np.isin(group, with_sums)
        cell_figure[np.searchsorted(with_sums, group[in_row]), position[in_row]] = members[in_row]
        coef = np.zeros((n_groups, sum_figure.shape[1], n_counts))
        row_of = np.full(model.n_figures, -1)
        row_of[sums] = np.arange(len(sums))
        in_sum = row_of[terms.row] >= 0
        at = row_of[terms.row[in_sum]]
        coef[index[at], rank[at], cell_position[terms.col[in_sum]]] = terms.data[in_sum]
        cell_value = np.where(cell_figure >= 0, model.figure_values[np.maximum(cell_figure, 0)], 0.0)
        sum_value = np.where(sum_figure >= 0, model.figure_values[np.maximum(sum_figure, 0)], 0.0)
        totals = np.flatnonzero(in_one & (model.kind == COUNT) & np.isin(most, with_sums))
        total_row = np.searchsorted(with_sums, most[totals])
        order = np.argsort(total_row, kind="stable")
        total_row, totals = total_row[order], totals[order]
        total_rank = np.arange(len(totals)) - np.searchsorted(total_row, total_row)
        total_figure = np.full((n_groups, int(total_rank.max(initial=-1)) + 1), -1)
        total_figure[total_row, total_rank] = totals
        total_coef = np.zeros((n_groups, total_figure.shape[1], n_counts))
        row_of[:] = -1
        row_of[totals] = np.arange(len(totals))
        in_total = row_of[terms.row] >= 0
        at = row_of[terms.row[in_total]]
        total_coef[total_row[at], total_rank[at], cell_position[terms.col[in_total]]] = terms.data[in_total]
        total_value = np.where(total_figure >= 0, model.figure_values[np.maximum(total_figure, 0)], 0.0)
        return cls(coef, sum_figure, cell_figure, cell_value, sum_value, total_coef, total_figure, total_value)

    @property
    def n(self) -> int:
        return self.coef.shape[0]

    def figures_of(self, row: int) -> np.ndarray:
        """The row's own figures: its counts and its sums."""
        both = np.concatenate([self.cell_figure[row], self.sum_figure[row]])
        return both[both >= 0]

    def intervals(
        self, hidden: np.ndarray, rows: np.ndarray, floor: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row in `rows` and count: the interval of each hidden count under the row's published sums, and
        whether the row's intervals are decided (not: no published sum over its hidden counts, a hidden count
        no sum bounds, or too many hidden counts). Published counts get their value. `floor` (rows × counts):
        what an insider knows each hidden count to be at least (0 for an outsider)."""
        lo, hi, _, _, decided = self._intervals(hidden, rows, floor)
        return lo, hi, decided

    def _intervals(
        self, hidden: np.ndarray, rows: np.ndarray, floor: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`intervals`, and those of the rows' totals (rows × totals)."""
        cells, sums = self.cell_figure[rows], self.sum_figure[rows]
        unknown = (cells >= 0) & hidden[np.maximum(cells, 0)]
        used = (sums >= 0) & ~hidden[np.maximum(sums, 0)]
        coef = self.coef[rows]
        known = np.where(unknown, 0.0 if floor is None else floor, self.cell_value[rows])  # x = known + x', x' >= 0
        rhs = self.sum_value[rows] - np.einsum("gsc,gc->gs", coef, known)
        totals = self.total_coef[rows]
        lo, hi, total_lo, total_hi, decided = _bounds(
            np.ascontiguousarray(coef), used, rhs, unknown, np.ascontiguousarray(totals)
        )
        base = np.einsum("gtc,gc->gt", totals, known)
        return lo + known, hi + known, total_lo + base, total_hi + base, decided

    def failing(
        self,
        hidden: np.ndarray,
        small: np.ndarray,
        upper: float,
        width: float,
        rows: np.ndarray,
        insiders: np.ndarray | None = None,
    ) -> np.ndarray:
        """Which of `rows` leave a hidden small count (`small`, by figure: a count or a total of the row) an
        interval the audit would refuse (upper bound below n + `upper`, or fewer than `width` integers wide):
        refused by the audit too, whatever else is hidden. With `insiders` (by figure: the counts whose
        respondents the insider attack takes as insiders, see audit.py), also under each hidden insider's
        knowledge that their own count is at least 1, for the row's other small counts (the audit holds an
        insider's own group to the outsiders' level)."""
        level = Level(upper, width)
        out = self._failing(hidden, small, level, rows, None, np.full(len(rows), -1))
        if insiders is None:
            return out
        cells = self.cell_figure[rows]
        at = np.maximum(cells, 0)
        row, place = np.nonzero((cells >= 0) & insiders[at] & hidden[at] & (self.cell_value[rows] >= 1))
        floor = np.zeros((len(row), cells.shape[1]))
        floor[np.arange(len(row)), place] = 1.0
        inside = self._failing(hidden, small, level, rows[row], floor, cells[row, place])
        out[row[inside]] = True
        return out

    def _failing(
        self, hidden: np.ndarray, small: np.ndarray, level: Level, rows: np.ndarray, floor: np.ndarray | None,
        own: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """`failing` per row in `rows`, the hidden counts at least `floor`, the count `own` (the insider's) not
        judged."""
        lo, hi, total_lo, total_hi, decided = self._intervals(hidden, rows, floor)
        figures = np.concatenate([self.cell_figure[rows], self.total_figure[rows]], axis=1)
        value = np.concatenate([self.cell_value[rows], self.total_value[rows]], axis=1)
        lo, hi = np.concatenate([lo, total_lo], axis=1), np.concatenate([hi, total_hi], axis=1)
        too_low, too_narrow = narrow(lo, hi, value, level)
        at = np.maximum(figures, 0)
        judged = (figures >= 0) & small[at] & hidden[at] & (figures != own[:, None])
        return decided & ((too_low | too_narrow) & judged).any(axis=1)


@numba.njit(cache=True)
def _reduce(a: np.ndarray, b: np.ndarray, m: int, n: int) -> int:
    """Row echelon form of [a | b] in place (partial pivoting); returns the rank: rows 0..rank-1 then hold an
    equivalent system of independent equations."""
    rank = 0
    for col in range(n):
        if rank == m:
            break
        pivot = rank
        for r in range(rank + 1, m):
            if abs(a[r, col]) > abs(a[pivot, col]):
                pivot = r
        if abs(a[pivot, col]) <= 1e-9:
            continue
        for j in range(n):
            a[rank, j], a[pivot, j] = a[pivot, j], a[rank, j]
        b[rank], b[pivot] = b[pivot], b[rank]
        for r in range(rank + 1, m):
            factor = a[r, col] / a[rank, col]
            for j in range(n):
                a[r, j] -= factor * a[rank, j]
            b[r] -= factor * b[rank]
        rank += 1
    return rank


@numba.njit(cache=True)
def _bit_count(subset: int) -> int:
    count = 0
    while subset:
        subset &= subset - 1
        count += 1
    return count


@numba.njit(cache=True)
def _basic_solution(a: np.ndarray, b: np.ndarray, rank: int, n: int, subset: int) -> np.ndarray:
    """The solution with only the unknowns in `subset` (`rank` of them) non-zero; x[0] = -inf when their
    matrix is singular or the solution has a negative entry."""
    square = np.empty((rank, rank + 1))
    chosen = np.empty(rank, np.int64)
    k = 0
    for j in range(n):
        if subset >> j & 1:
            chosen[k] = j
            k += 1
    for r in range(rank):
        for k in range(rank):
            square[r, k] = a[r, chosen[k]]
        square[r, rank] = b[r]
    for col in range(rank):
        pivot = col
        for r in range(col + 1, rank):
            if abs(square[r, col]) > abs(square[pivot, col]):
                pivot = r
        if abs(square[pivot, col]) <= 1e-9:
            return np.full(n, -np.inf)
        for k in range(rank + 1):
            square[col, k], square[pivot, k] = square[pivot, k], square[col, k]
        for r in range(rank):
            if r != col:
                factor = square[r, col] / square[col, col]
                for k in range(col, rank + 1):
                    square[r, k] -= factor * square[col, k]
    x = np.zeros(n)
    for k in range(rank):
        value = square[k, rank] / square[k, k]
        if value < -1e-9:
            return np.full(n, -np.inf)
        x[chosen[k]] = max(value, 0.0)
    return x


@numba.njit(
    "Tuple((f8[:, ::1], f8[:, ::1], f8[:, ::1], f8[:, ::1], b1[::1]))(f8[:, :, ::1], b1[:, :], f8[:, :], b1[:, :], "
    "f8[:, :, ::1])",
    cache=True,
)
def _bounds(
    coef: np.ndarray, used: np.ndarray, rhs: np.ndarray, unknown: np.ndarray, totals: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vertex enumeration per row (compiled: a few thousand tiny systems per release). The rows of A x = b are
    reduced to independent ones (rank r), then every choice of r unknowns with a regular matrix gives a basic
    solution; those >= 0 are the vertices. Bounded only where some equation has every hidden count with a
    positive coefficient (n_answered, or n_valid over scale answers), else left undecided. The `totals` (sums
    over the row's counts, coefficients per row × total × count) get their bounds over the hidden counts too."""
    n_rows, n_sums, n_counts = coef.shape
    n_totals = totals.shape[1]
    lo = np.zeros((n_rows, n_counts))
    hi = np.zeros((n_rows, n_counts))
    total_lo = np.zeros((n_rows, n_totals))
    total_hi = np.zeros((n_rows, n_totals))
    decided = np.zeros(n_rows, np.bool_)
    a = np.empty((n_sums, n_counts))
    b = np.empty(n_sums)
    cols = np.empty(n_counts, np.int64)
    for g in range(n_rows):
        n = 0
        for c in range(n_counts):
            if unknown[g, c]:
                cols[n] = c
                n += 1
        if n == 0 or n > MAX_UNKNOWNS:
            continue
        m, bounded = 0, False
        for s in range(n_sums):
            if not used[g, s]:
                continue
            nonzero, positive = False, True
            for j in range(n):
                a[m, j] = coef[g, s, cols[j]]
                nonzero |= abs(a[m, j]) > 1e-12
                positive &= a[m, j] > 1e-12
            if nonzero:
                b[m] = rhs[g, s]
                bounded |= positive
                m += 1
        if not bounded:
            continue
        rank = _reduce(a, b, m, n)
        low = np.full(n, np.inf)
        high = np.full(n, -np.inf)
        t_low = np.full(n_totals, np.inf)
        t_high = np.full(n_totals, -np.inf)
        for subset in range(1 << n):
            if _bit_count(subset) != rank:
                continue
            x = _basic_solution(a, b, rank, n, subset)
            if x[0] == -np.inf:
                continue  # singular, or not >= 0
            for j in range(n):
                low[j] = min(low[j], x[j])
                high[j] = max(high[j], x[j])
            for t in range(n_totals):
                value = 0.0
                for j in range(n):
                    value += totals[g, t, cols[j]] * x[j]
                t_low[t] = min(t_low[t], value)
                t_high[t] = max(t_high[t], value)
        if low[0] == np.inf:
            continue  # no vertex found (only by rounding): left to the audit
        for j in range(n):
            lo[g, cols[j]] = low[j]
            hi[g, cols[j]] = high[j]
        for t in range(n_totals):
            total_lo[g, t] = t_low[t]
            total_hi[g, t] = t_high[t]
        decided[g] = True
    return lo, hi, total_lo, total_hi, decided
