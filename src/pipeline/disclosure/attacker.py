"""The search's attacker: everything published about a pattern, as one HiGHS model per independent block.

Independent blocks: with the published inner cells fixed, the unknowns fall into connected components
(scipy.sparse.csgraph) that share no constraint, so each interval is the sum of per-component intervals and
every component gets its own small HiGHS model, reused for all its objectives (only the costs change) and
for the repairs (a figure hidden more relaxes a row or adds a column in place). A feasible point found by
any solve is kept: it proves bounds for every cell of its component, so an interval that is already wide
enough by the points found needs no solve of its own; the narrowest interval of a passing pattern is
computed exactly (cells are solved in order of their proven width until no other can be narrower). Points
are gathered cheaply: the exploring objectives and the pushes that prove many bounds at once stop after
`STEPS` simplex iterations (the primal simplex is at a feasible vertex after each), and a bound whose duals
show the figure to be a combination of published equations is its other bound as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import highspy
import numba
import numpy as np
import scipy.sparse as sp

from pipeline.disclosure.linear_model import LinearModel, column_blocks, row_blocks, split_by
from pipeline.disclosure.rules import INF, TOL, single_integer, single_integers

try:  # the bare solver: no console banner, no Python callbacks on every solve
    from highspy._core import _Highs as _Solver
except ImportError:  # pragma: no cover - older highspy
    _Solver = highspy.Highs

_DUAL_ZERO = 1e-9  # a reduced cost or dual this small is a zero of the exact (integer) problem
EXPLORE = 3  # random objectives per block before any cell is solved alone
# simplex iterations of an exploring objective's or a push's run: primal simplex moves from feasible vertex to
# feasible vertex, and one that far from the start proves nearly as much as the optimum, which takes several
# times as many (measured: 120 costs more runs, 200 more iterations)
STEPS = 150
# a round of pushes (`cover`) that proved fewer targets than this per LP is the last: a push costs about
# three solves of a single bound
COVERED_PER_SOLVE = 3


class Attacker:
    """Everything published about a pattern, as one HiGHS model per independent block of unknowns."""

    def __init__(self, model: LinearModel, hidden: np.ndarray, split: bool = True) -> None:
        self.model = model
        hidden = model.hiding(hidden)
        own = model.own
        known = (own >= 0) & ~hidden[np.maximum(own, 0)]
        # a published figure of 0 is a sum of non-negative terms: each of its cells is a known zero
        zero = np.flatnonzero(~hidden & (model.figure_values == 0) & model.non_negative)
        known[model.figures[zero].indices] = True
        self.known = known
        self.unknown = np.flatnonzero(~known)
        self.column = np.full(len(known), -1)
        self.column[self.unknown] = np.arange(len(self.unknown))
        known_values = np.where(known, model.values, 0.0)

        published = np.flatnonzero(~hidden)
        rows_full = sp.vstack([model.figures[published], model.knowledge]).tocsr()
        fixed = rows_full @ known_values
        lo = np.concatenate([model.figure_values[published], model.knowledge_lo]) - fixed
        hi = np.concatenate([model.figure_values[published], model.knowledge_hi]) - fixed
        row_figure = np.concatenate([published, np.full(model.knowledge.shape[0], -1)])
        rows_u = rows_full[:, self.unknown].tocsr()
        rows_u.eliminate_zeros()
        useful = np.diff(rows_u.indptr) > 0
        self.rows_full = rows_full[useful]
        self.rows = rows_u[useful]
        self.lo, self.hi = lo[useful], hi[useful]
        self.row_figure = row_figure[useful]
        # rows over known cells only: they constrain nothing until one of their cells is hidden (hide_cell)
        self._idle = _Idle(rows_full[~useful], lo[~useful], hi[~useful], row_figure[~useful])

        n = len(self.unknown)
        if split:
            self.n_blocks, self.block = column_blocks(self.rows)
        else:
            self.n_blocks, self.block = (1 if n else 0), np.zeros(n, int)
        self.row_block = row_blocks(self.rows, self.block)  # every row here has a term
        self.members = split_by(np.arange(n), self.block, self.n_blocks)
        self.local = np.zeros(n, int)  # each unknown's place among its block's members
        for members in self.members:
            self.local[members] = np.arange(len(members))
        self.block_rows = split_by(np.arange(self.rows.shape[0]), self.row_block, self.n_blocks)
        self.truth = model.values[self.unknown]
        self._pool: dict[int, _Points] = {}  # block -> feasible points over its unknowns, the truth first
        self._insider: tuple[int, int] | None = None  # (block, local column) of the knowledge in force
        self._solvers: dict[int, highspy.Highs] = {}
        self._last: dict[int, tuple[np.ndarray, float]] = {}  # block -> its last objective and optimum
        self.solves = 0

    def observed(self, target: sp.csr_matrix) -> tuple[float, float]:
        """The smallest and largest value of `target` over the feasible points found so far (proven bounds)."""
        constant, parts = self._parts(target)
        lo = hi = constant
        for block, cols, coefs in parts:
            if not len(self.block_rows[block]):
                free_lo, free_hi = _free(coefs)
                lo, hi = lo + free_lo, hi + free_hi
                continue
            values = self._seen(block, self._points(block)[:, cols] @ coefs)
            lo += values.min()
            hi += values.max()
        return lo, hi

    def cover(
        self, targets: sp.csr_matrix, at_least: np.ndarray, at_most: np.ndarray, rounds: int = 12
    ) -> tuple[np.ndarray, np.ndarray]:
        """Find points that prove `at_least` <= upper bound and lower bound <= `at_most` for many targets at once.
        Returns the targets' bounds proven by the points then.

        Each round solves, per block, one LP that pushes all targets still unproven upward up and the others
        still unproven downward down (the one costs the other little: what one cell gains another gives); its
        vertex proves many of them together. What stays unproven is left to a solve of its own (`bounds`).
        """
        watch = _Watch(self, targets)
        pending, spent = 2 * targets.shape[0] + 1, 0  # a target may be unproven both ways
        while True:
            lo, hi = watch.bounds()
            up, down = hi < at_least - TOL, lo > at_most + TOL
            left = int(up.sum() + down.sum())
            proved = pending - left
            if not left or proved <= 0 or proved < COVERED_PER_SOLVE * spent or not rounds:
                return lo, hi  # the last round proved too few for its solves: the rest is solved one by one
            rounds -= 1
            pending, before = left, self.solves
            push = (down & ~up).astype(float) - up  # minimised: the targets to raise at -1, those to lower at +1
            cost = (targets.T @ push)[self.unknown]
            for block in np.unique(self.block[np.flatnonzero(cost)]):
                if len(self.block_rows[block]):
                    members = self.members[block]
                    self._solve(int(block), np.arange(len(members)), cost[members], STEPS)
            spent = self.solves - before

    def observed_many(
        self, targets: sp.csr_matrix, block: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`observed` for many targets at once, and which of them reach into `block` (the others: False)."""
        seen = self.seen(targets)
        touched = np.zeros(targets.shape[0], bool)
        if block in seen.blocks:
            touched[seen.blocks[block][0]] = True
        return seen.lo, seen.hi, touched

    def _block_terms(self, targets: sp.csr_matrix) -> Iterator[_Terms]:
        """The targets' unknown terms, per block they reach into."""
        terms = targets.tocoo()
        columns = self.column[terms.col]
        inside = columns >= 0
        rows, columns, coefs = terms.row[inside], columns[inside], terms.data[inside]
        blocks = self.block[columns]
        for b in np.unique(blocks):
            mine = blocks == b
            reaches = np.zeros(targets.shape[0], bool)
            reaches[rows[mine]] = True
            yield _Terms(int(b), reaches, self.local[columns[mine]], coefs[mine], rows[mine])

    def bounds(self, target: sp.csr_matrix, sense: int = 0) -> tuple[float, float]:
        """The attacker's interval of `target` (sense +1: only the upper bound is solved, -1: only the lower)."""
        constant, parts = self._parts(target)
        lo = hi = constant
        for block, cols, coefs in parts:
            if not len(self.block_rows[block]):
                free_lo, free_hi = _free(coefs)
                lo, hi = lo + free_lo, hi + free_hi
                continue
            seen = self._seen(block, self._points(block)[:, cols] @ coefs)
            if sense > 0:
                b_lo = seen.min()
            elif seen.min() <= TOL and (coefs >= 0).all():
                b_lo = 0.0  # a sum of cells (all >= 0) that a point shows at 0: its lower bound needs no solve
            elif self._pinned(block, cols, -coefs):  # the upper bound just solved holds as the lower one too
                b_lo = -self._last[block][1]
            else:
                b_lo = self._solve(block, cols, coefs)
            if sense < 0:
                b_hi = seen.max()
            elif self._pinned(block, cols, coefs):
                b_hi = b_lo
            else:
                b_hi = -self._solve(block, cols, -coefs)
            lo, hi = lo + b_lo, hi + b_hi
        return lo, hi

    def helpful(self, target: sp.csr_matrix, sense: int) -> np.ndarray:
        """Published figures whose suppression would widen the bound: binding rows and fixed cells (duals)."""
        constant, parts = self._parts(target)
        del constant
        found: list[np.ndarray] = []
        for direction in [1, -1] if sense == 0 else [sense]:
            for block, cols, coefs in parts:
                if not len(self.block_rows[block]):
                    continue
                self._solve(block, cols, -direction * coefs)
                dual = np.asarray(self._solver(block).getSolution().row_dual)
                rows = self.block_rows[block]
                binding = rows[np.abs(dual) > TOL]
                found.append(self.row_figure[binding])
                # a published cell is worth hiding where its reduced cost would be non-zero once free
                objective = np.zeros(self.model.figures.shape[1])
                objective[target.indices] = -direction * target.data
                duals = np.zeros(self.rows_full.shape[0])  # the other blocks' rows at 0: no slicing
                duals[rows] = dual
                reduced = objective - duals @ self.rows_full
                cells = np.flatnonzero((np.abs(reduced) > TOL) & self.known)
                found.append(self.model.own[cells])
        out = np.unique(np.concatenate(found)) if found else np.zeros(0, int)
        return out[out >= 0]

    def hide(self, figures: np.ndarray) -> None:
        """Stop publishing `figures` (sums, not single cells: see `hide_cell`): their rows no longer bind. The
        pattern then hides more, so every point found so far stays feasible, and this is the attacker of the
        new pattern without building it anew."""
        self._idle.drop(np.isin(self._idle.figure, figures))
        rows = np.flatnonzero(np.isin(self.row_figure, figures))
        self.lo[rows], self.hi[rows] = -INF, INF
        for block in np.unique(self.row_block[rows]):
            if int(block) not in self._solvers:
                continue
            local = np.searchsorted(self.block_rows[block], rows[self.row_block[rows] == block]).astype(np.int32)
            free = np.full(len(local), highspy.kHighsInf)
            self._edit(int(block)).changeRowsBounds(len(local), local, -free, free)

    def hide_cell(self, var: int) -> bool:
        """Stop publishing the inner cell `var` in place: it becomes an unknown of the one block its rows are
        in, and the rows over known cells only that hold it start to bind. Every point found so far, with the
        cell's true value added, stays feasible. False (nothing changed) when its rows reach into no block or
        into several: the caller builds the attacker anew then."""
        value = float(self.model.values[var])
        self._idle.drop(self._idle.figure == self.model.own[var])  # the cell's own figure
        rows, coefs = _column(self.rows_full, var)
        blocks = np.unique(self.row_block[rows])
        if len(blocks) != 1:
            return False
        block = int(blocks[0])
        new = len(self.unknown)
        self.known[var] = False
        self.unknown = np.append(self.unknown, var)
        self.column[var] = new
        self.block = np.append(self.block, block)
        self.members[block] = np.append(self.members[block], new)
        self.local = np.append(self.local, len(self.members[block]) - 1)
        self.truth = np.append(self.truth, value)
        self.lo[rows] += coefs * value
        self.hi[rows] += coefs * value
        self.rows = _with_column(self.rows, rows, coefs)
        woken, woken_coefs = self._idle.wake(var)
        n_woken = len(woken)
        woken_lo, woken_hi = self._idle.lo[woken] + woken_coefs * value, self._idle.hi[woken] + woken_coefs * value
        first = self.rows.shape[0]
        # over the unknowns a woken row holds this cell alone: its other cells are known, or it was not idle
        alone = sp.csr_matrix((woken_coefs, np.full(n_woken, new), np.arange(n_woken + 1)), shape=(n_woken, new + 1))
        self.rows = _stacked(self.rows, alone)
        self.rows_full = _stacked(self.rows_full, self._idle.rows[woken])
        self.lo, self.hi = np.concatenate([self.lo, woken_lo]), np.concatenate([self.hi, woken_hi])
        self.row_figure = np.concatenate([self.row_figure, self._idle.figure[woken]])
        self.row_block = np.concatenate([self.row_block, np.full(n_woken, block)])
        self.block_rows[block] = np.concatenate([self.block_rows[block], np.arange(first, self.rows.shape[0])])
        if block in self._pool:
            self._pool[block].add_column(value)
        if block in self._solvers:
            solver = self._edit(block)
            local = np.searchsorted(self.block_rows[block], rows).astype(np.int32)
            solver.changeRowsBounds(len(local), local, self.lo[rows], self.hi[rows])
            solver.addCol(0.0, 0.0, highspy.kHighsInf, len(local), local, coefs.astype(float))
            if n_woken:
                solver.addRows(
                    n_woken, woken_lo, woken_hi, n_woken, np.arange(n_woken, dtype=np.int32),
                    np.full(n_woken, len(self.members[block]) - 1, np.int32), woken_coefs.astype(float),
                )  # fmt: skip
        return True

    @contextmanager
    def knowing(self, var: int) -> Iterator[int]:
        """Add an insider's knowledge: their own (unknown) inner cell `var` is at least 1. Yields its block."""
        col = int(self.column[var])
        block = int(self.block[col])
        local = int(self.local[col])
        self._pool_of(block)
        self._insider = (block, local)
        if len(self.block_rows[block]):
            self._edit(block).changeColBounds(local, 1.0, highspy.kHighsInf)
        try:
            yield block
        finally:
            if len(self.block_rows[block]):
                self._edit(block).changeColBounds(local, 0.0, highspy.kHighsInf)
            self._insider = None  # points found with the knowledge are feasible without it too: they stay

    def _seen(self, block: int, values: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
        """Values at the block's points (rows; or at `points`, the truth first); under an insider's knowledge
        each point p is first pulled toward the truth t (row 0, whose insider cell is >= 1) until that cell is
        1: t + a(p - t) is feasible (the polytope is convex) and keeps the knowledge."""
        if self._insider is None or self._insider[0] != block:
            return values
        points = self._points(block) if points is None else points
        return _pulled(points[:, self._insider[1]], values)

    def seen(self, targets: sp.csr_matrix) -> _Seen:
        """The targets' proven bounds, and per block their values at its points (under the insider's knowledge
        in force), for `observed_many` and the many questions of `fixed_each`."""
        lo, hi = self._constant(targets), self._constant(targets)
        blocks: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        for terms in self._block_terms(targets):
            values = None
            if len(self.block_rows[terms.block]):
                values = self._seen(terms.block, terms.values(self._points(terms.block)))
                lo[terms.reaches] += values.min(axis=0)
                hi[terms.reaches] += values.max(axis=0)
            else:
                lo, hi = terms.free(lo, hi)
            blocks[terms.block] = np.flatnonzero(terms.reaches), values
        return _Seen(lo, hi, blocks)

    def at_ceiling(self, targets: sp.csr_matrix) -> np.ndarray:
        """How many of the points found so far hold each target at its largest value among them."""
        count = np.zeros(targets.shape[0], int)
        for reached, values in self.seen(targets).blocks.values():
            if values is not None:
                count[reached] += (values >= values.max(axis=0) - TOL).sum(axis=0)
        return count

    def fixed_each(
        self, seen: _Seen, subset: np.ndarray, insiders: np.ndarray, truth: np.ndarray, small: np.ndarray
    ) -> np.ndarray:
        """Which targets `subset` (rows of `seen`, true values `truth`) the points found so far do not show
        protected under each insider's knowledge in turn (one row per inner cell in `insiders`): a target must
        move by 1 either way (not exact); where `small` (insiders × targets) holds, up by 1 and besides down by
        1 or up by 2 (upper bound n + 1, two integers wide: the outsiders' level). Any convex combination of
        points with the insider's cell at least 1 holds under the knowledge (`_reaches`); only the insider's
        block moves, the others add what `seen` shows."""
        fixed = np.zeros((len(insiders), len(subset)), bool)
        columns = self.column[insiders]
        blocks = self.block[columns]
        for block in np.unique(blocks):
            reached, values = seen.blocks.get(int(block), (None, None))
            if values is None:
                continue
            place = np.minimum(np.searchsorted(reached, subset), len(reached) - 1)
            inside = np.flatnonzero(reached[place] == subset)
            values = values[:, place[inside]] - values[:1, place[inside]]  # moves from the truth (row 0)
            up = seen.hi[subset[inside]] - truth[inside] - values.max(axis=0)  # what the other blocks add
            down = truth[inside] - seen.lo[subset[inside]] + values.min(axis=0)
            mine = np.flatnonzero(blocks == block)
            cells = self._points(int(block))[:, self.local[columns[mine]]]
            level = small[np.ix_(mine, inside)]
            raised = _reaches(cells, values, 1.0 - up)
            # targets some insider does not move up (or small ones, which need both ways): down, then?
            still = np.flatnonzero(~raised.all(axis=0) | level.any(axis=0))
            lowered = np.zeros_like(raised)
            lowered[:, still] = _reaches(cells, -values[:, still], 1.0 - down[still])
            settled = raised | lowered
            wanted = np.flatnonzero(level.any(axis=0))
            if wanted.size:
                twice = _reaches(cells, values[:, wanted], 2.0 - up[wanted])
                both = raised[:, wanted] & (lowered[:, wanted] | twice)
                settled[:, wanted] = np.where(level[:, wanted], both, settled[:, wanted])
            fixed[np.ix_(mine, inside)] = ~settled
        return fixed

    def _parts(self, target: sp.csr_matrix) -> tuple[float, list[tuple[int, np.ndarray, np.ndarray]]]:
        """The known part of `target` and its unknown part split by block (local columns, coefficients)."""
        idx, coefs = target.indices, target.data
        known = self.known[idx]
        constant = float(coefs[known] @ self.model.values[idx[known]])
        cols = self.column[idx[~known]]
        coefs = coefs[~known]
        blocks = self.block[cols]
        parts = []
        for block in np.unique(blocks):
            mine = blocks == block
            parts.append((int(block), self.local[cols[mine]], coefs[mine].astype(float)))
        return constant, parts

    def _points(self, block: int) -> np.ndarray:
        return self._pool_of(block).view()

    def _pool_of(self, block: int) -> _Points:
        """The block's points; a new block starts with the true values and the vertices of a few random
        objectives, which between them prove most cells' bounds without a solve of their own."""
        if block not in self._pool:
            self._pool[block] = _Points(self.truth[self.members[block]][None, :])
            if len(self.block_rows[block]):
                self._explore(block)
        return self._pool[block]

    def _explore(self, block: int) -> None:
        n = len(self.members[block])
        rng = np.random.default_rng(block)
        for _ in range(EXPLORE):
            weights = rng.uniform(-1.0, 1.0, n)
            if self._solve(block, np.arange(n), weights, STEPS) == -INF:  # unbounded: explore upward
                self._solve(block, np.arange(n), np.abs(weights), STEPS)

    def spread(self, variables: np.ndarray, targets: sp.csr_matrix, values: np.ndarray, rounds: int = 12) -> np.ndarray:
        """Which targets move by at least 1 away from `values` at some point where every insider cell in
        `variables` is at least 1 at once (the truth has them all). Such a point holds under each single
        insider's knowledge, so a target it moves is no insider's exact cell. Each LP pushes all targets not yet
        moved, every other one up and the rest down, the other way round in the next LP (a target moved either way
        is settled), so a few solves serve all the insiders of a block."""
        moved = np.zeros(targets.shape[0], bool)
        columns = self.column[variables]
        for block in np.unique(self.block[columns]):
            if not len(self.block_rows[block]):
                continue
            members = self.members[block]
            local = self.local[columns[self.block[columns] == block]].astype(np.int32)
            solver = self._edit(int(block))
            pool = self._pool_of(int(block))
            upper = np.full(len(local), highspy.kHighsInf)
            solver.changeColsBounds(len(local), local, np.ones(len(local)), upper)
            inside = targets[:, self.unknown][:, members].tocsr()
            mine = np.diff(inside.indptr) > 0
            up_first = np.arange(targets.shape[0]) % 2 == 0
            idle = 0  # LPs in a row that moved nothing new: after one each way, stop
            try:
                for push in range(2 * rounds):
                    pending = mine & ~moved
                    if not pending.any() or idle == 2:
                        break
                    up = up_first if push % 2 == 0 else ~up_first
                    cost = inside.T @ (pending * np.where(up, -1.0, 1.0))
                    if not np.isfinite(self._solve(int(block), np.arange(len(members)), cost)):
                        break  # unbounded, or no feasible vertex found: no point to look at
                    at = np.asarray(inside @ pool.view()[-1]).ravel() + self._constant(targets)
                    newly = pending & (np.abs(at - values) >= 1 - TOL)
                    idle = 0 if newly.any() else idle + 1
                    moved |= newly
            finally:
                self._edit(int(block)).changeColsBounds(len(local), local, np.zeros(len(local)), upper)
        return moved

    def _constant(self, targets: sp.csr_matrix) -> np.ndarray:
        return targets @ np.where(self.known, self.model.values, 0.0)

    def _keep(self, block: int, point: np.ndarray) -> None:
        self._pool_of(block).add(point)

    def _solver(self, block: int) -> highspy.Highs:
        if block not in self._solvers:
            self._solvers[block] = _highs(
                self.rows[self.block_rows[block]][:, self.members[block]],
                self.lo[self.block_rows[block]],
                self.hi[self.block_rows[block]],
                self.truth[self.members[block]],
            )
        return self._solvers[block]

    def _edit(self, block: int) -> highspy.Highs:
        """The block's solver, about to be changed: its last optimum no longer holds."""
        self._last.pop(block, None)
        return self._solver(block)

    def _pinned(self, block: int, cols: np.ndarray, coefs: np.ndarray) -> bool:
        """Whether the block's last solve was for this very objective and its duals show the objective constant
        over the block: every reduced cost 0 and only equality rows priced, so the objective is a combination of
        published equalities (the lower and upper bound coincide; one solve gives both)."""
        last = self._last.get(block)
        if last is None or not np.array_equal(last[0], self._cost(block, cols, coefs)):
            return False
        solution = self._solver(block).getSolution()
        if np.abs(solution.col_dual).max(initial=0.0) > _DUAL_ZERO:
            return False
        priced = self.block_rows[block][np.abs(np.asarray(solution.row_dual)) > _DUAL_ZERO]
        return bool((self.lo[priced] == self.hi[priced]).all())

    def _cost(self, block: int, cols: np.ndarray, coefs: np.ndarray) -> np.ndarray:
        cost = np.zeros(len(self.members[block]))
        cost[cols] = coefs
        return cost

    def _solve(self, block: int, cols: np.ndarray, coefs: np.ndarray, steps: int | None = None) -> float:
        """Minimum of coefs @ x[cols] over the block; -inf when unbounded. The optimum joins the points.
        The objective the block was last solved for is not solved again (a repair asks for the duals of the
        bound just solved): HiGHS' fixed cost of a run is most of a warm re-solve's.
        With `steps`, the simplex stops after that many iterations: the feasible vertex reached joins the
        points, and the value returned is then no bound (the minimum may be lower)."""
        solver = self._solver(block)
        n = len(self.members[block])
        cost = self._cost(block, cols, coefs)
        last = self._last.get(block)
        if last is not None and np.array_equal(last[0], cost):
            return last[1]
        solver.changeColsCost(n, np.arange(n, dtype=np.int32), cost)
        if steps is not None:
            solver.setOptionValue("simplex_iteration_limit", steps)
        try:
            solver.run()
        finally:
            if steps is not None:
                solver.setOptionValue("simplex_iteration_limit", highspy.kHighsIInf)
        self.solves += 1
        status = solver.getModelStatus()
        stopped = status == highspy.HighsModelStatus.kIterationLimit
        if status == highspy.HighsModelStatus.kOptimal or (stopped and _feasible(solver)):
            self._keep(block, np.asarray(solver.getSolution().col_value))
            value = float(solver.getInfo().objective_function_value)
        elif status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
            value = -INF
        elif stopped:
            return INF  # still looking for a feasible vertex: nothing found, nothing proven
        else:
            raise RuntimeError(f"disclosure audit: HiGHS ended with {solver.modelStatusToString(status)}")
        if stopped:
            self._last.pop(block, None)
        else:
            self._last[block] = (cost, value)
        return value


def _feasible(solver: highspy.Highs) -> bool:
    return solver.getInfo().primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible


def _pulled(cell: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values` at points (rows) pulled toward the truth (row 0) until the insider's `cell` is at least 1."""
    base = values[:1]
    return base + _pull(cell).reshape(-1, *([1] * (values.ndim - 1))) * (values - base)


def _pull(cells: np.ndarray) -> np.ndarray:
    """How far each point (row) may move from the truth (row 0) with the insider's cell (a column each) still
    at least 1: 1 where it is anyway, else the fraction of the way where the cell reaches 1."""
    pulled = (cells[0] - 1.0) / np.maximum(cells[0] - cells, TOL)
    return np.clip(np.where(cells >= 1 - TOL, 1.0, pulled), 0.0, 1.0)


# compiled (numba, one signature, cached beside the module): called once per group of insiders and block, on
# small arrays, where numpy's per-call overhead cost more than the arithmetic
@numba.njit("b1[:, ::1](f8[:, :], f8[:, :], f8[::1])", cache=True)
def _reaches(cells: np.ndarray, moves: np.ndarray, needed: np.ndarray) -> np.ndarray:
    """insiders × targets: whether some convex combination of the points with the insider's cell (a column of
    `cells`, points in rows) at least 1 moves the target (a column of `moves`) by `needed` or more.

    The best such combination is an LP in the weights with two rows; by duality it falls short only if some
    v >= 0 has move + v (cell - 1) < needed at every point. A point with the cell at 1 or more that moves the
    target far enough settles it; else the points below 1 allow v up to R = max (move - needed) / (1 - cell),
    those above 1 need v >= S = min (needed - move) / (cell - 1) > 0, and the target is reached when S <= R:
    one pass over the points instead of an LP per pair."""
    n_points, n_insiders = cells.shape
    reached = np.zeros((n_insiders, moves.shape[1]), np.bool_)
    for i in range(n_insiders):
        for t in range(moves.shape[1]):
            most, least = -INF, INF  # R and S
            for p in range(n_points):
                gap = moves[p, t] - (needed[t] - TOL)
                lift = cells[p, i] - 1.0
                if lift < -TOL:
                    most = max(most, gap / -lift)
                elif gap >= 0:
                    reached[i, t] = True
                    break
                elif lift > TOL:
                    least = min(least, -gap / lift)
            else:
                reached[i, t] = least <= most
    return reached


def _values(points: np.ndarray, columns: np.ndarray, coefs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """points × targets: each target's value at each point, from its terms (`rows` sorted, target by target),
    gathering only the columns the targets use (the pool holds thousands of points over thousands of cells)."""
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    return np.add.reduceat(points[:, columns] * coefs, starts, axis=1)


@dataclass(frozen=True)
class _Terms:
    """Targets' unknown terms in one block: which targets reach into it, and their terms there (the block's
    local columns, coefficients, and the target of each term, sorted)."""

    block: int
    reaches: np.ndarray
    columns: np.ndarray
    coefs: np.ndarray
    rows: np.ndarray

    def values(self, points: np.ndarray) -> np.ndarray:
        """points × the targets that reach into the block."""
        return _values(points, self.columns, self.coefs, self.rows)

    def free(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The targets' bounds with a block nothing published constrains added: its cells are only >= 0, so a
        target with a positive term there is unbounded above, one with a negative term (a change, the new
        count minus the old) unbounded below."""
        hi, lo = hi.copy(), lo.copy()
        hi[self.rows[self.coefs > 0]] = INF
        lo[self.rows[self.coefs < 0]] = -INF
        return lo, hi


class _Watch:
    """Many targets' proven bounds while points arrive (`Attacker.cover`): each point is evaluated once, not
    again in every round (a round adds a point or two to hundreds)."""

    def __init__(self, attacker: Attacker, targets: sp.csr_matrix) -> None:
        self.attacker = attacker
        self.constant = attacker._constant(targets)
        self.terms: list[_Terms] = []
        self.free: list[_Terms] = []  # the targets' terms in blocks nothing published constrains
        for terms in attacker._block_terms(targets):
            (self.terms if len(attacker.block_rows[terms.block]) else self.free).append(terms)
        self.seen = [0] * len(self.terms)  # points evaluated per block
        self.least = [np.full(int(t.reaches.sum()), INF) for t in self.terms]
        self.most = [np.full(int(t.reaches.sum()), -INF) for t in self.terms]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The targets' smallest and largest values over the points found so far (as `observed_many`)."""
        lo, hi = self.constant.copy(), self.constant.copy()
        for i, terms in enumerate(self.terms):
            points = self.attacker._points(terms.block)
            if len(points) > self.seen[i]:
                batch = points[np.r_[0, self.seen[i] : len(points)]]  # the truth first, for an insider's pull
                values = self.attacker._seen(terms.block, terms.values(batch), batch)
                self.least[i] = np.minimum(self.least[i], values.min(axis=0))
                self.most[i] = np.maximum(self.most[i], values.max(axis=0))
                self.seen[i] = len(points)
            lo[terms.reaches] += self.least[i]
            hi[terms.reaches] += self.most[i]
        for terms in self.free:
            lo, hi = terms.free(lo, hi)
        return lo, hi


@dataclass(frozen=True)
class _Seen:
    """Many targets' proven bounds, and per block the targets it reaches with their values at its points (None
    for a block nothing published constrains)."""

    lo: np.ndarray
    hi: np.ndarray
    blocks: dict[int, tuple[np.ndarray, np.ndarray | None]]


class _Idle:
    """Constraint rows over known cells only, with their bounds (the known cells' part taken off) and figures:
    they constrain nothing until one of their cells is hidden (`hide_cell` wakes them), nor ever once their
    figure is (`drop`). Kept as built, with a mask of those still idle and a copy by cell to find the rows a
    cell wakes: a repair hides hundreds of cells one by one, and slicing the rows anew each time cost more
    than the LP solves in between."""

    def __init__(self, rows: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray, figure: np.ndarray) -> None:
        self.rows, self.lo, self.hi, self.figure = rows, lo, hi, figure
        self.by_cell = rows.tocsc()
        self.idle = np.ones(rows.shape[0], bool)

    def drop(self, rows: np.ndarray) -> None:
        self.idle &= ~rows

    def wake(self, var: int) -> tuple[np.ndarray, np.ndarray]:
        """The idle rows holding inner cell `var`, in order (idle no longer), and the cell's coefficient in each."""
        start, end = self.by_cell.indptr[var], self.by_cell.indptr[var + 1]
        rows, coefs = self.by_cell.indices[start:end], self.by_cell.data[start:end]
        order = np.argsort(rows)
        rows, coefs = rows[order], coefs[order]
        idle = self.idle[rows]
        rows, coefs = rows[idle], coefs[idle]
        self.idle[rows] = False
        return rows, coefs


# A repair changes the attacker's rows cell by cell: these build the new CSR arrays directly, where scipy's
# general slicing and stacking cost a millisecond each time.


def _column(matrix: sp.csr_matrix, var: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows of `matrix` that hold column `var` (ascending) and its coefficient in each."""
    at = np.flatnonzero(matrix.indices == var)
    return np.searchsorted(matrix.indptr, at, side="right") - 1, matrix.data[at]


def _with_column(matrix: sp.csr_matrix, rows: np.ndarray, coefs: np.ndarray) -> sp.csr_matrix:
    """`matrix` with one more column, the last, holding `coefs` in `rows` (ascending, distinct)."""
    n_rows, n_cols = matrix.shape
    at = matrix.indptr[rows + 1]  # the end of each row: the new column's index is the largest
    added = np.zeros(n_rows + 1, matrix.indptr.dtype)
    added[rows + 1] = 1
    data, indices = np.insert(matrix.data, at, coefs), np.insert(matrix.indices, at, n_cols)
    return sp.csr_matrix((data, indices, matrix.indptr + np.cumsum(added)), shape=(n_rows, n_cols + 1))


def _stacked(matrix: sp.csr_matrix, more: sp.csr_matrix) -> sp.csr_matrix:
    """The rows of `more` (as many columns) below those of `matrix`."""
    entries = (
        np.concatenate([matrix.data, more.data]),
        np.concatenate([matrix.indices, more.indices]),
        np.concatenate([matrix.indptr, matrix.indptr[-1] + more.indptr[1:]]),
    )
    return sp.csr_matrix(entries, shape=(matrix.shape[0] + more.shape[0], matrix.shape[1]))


class _Points:
    """Feasible points of one block, in a buffer that grows by doubling (points arrive one solve at a time)."""

    def __init__(self, first: np.ndarray) -> None:
        self.data = np.array(first, dtype=float, ndmin=2)
        self.n = len(self.data)

    def add(self, point: np.ndarray) -> None:
        """A solve that ends where the last one did (a third of them: the vertex was optimal for the new
        objective too) adds nothing: the point is not stored twice, which every later look at the points
        would pay for."""
        if np.array_equal(self.data[self.n - 1], point):
            return
        if self.n == len(self.data):
            self.data = np.vstack([self.data, np.empty_like(self.data)])
        self.data[self.n] = point
        self.n += 1

    def view(self) -> np.ndarray:
        return self.data[: self.n]

    def add_column(self, value: float) -> None:
        """A cell that was known joins the block: every point holds it at its true value."""
        self.data = np.hstack([self.data, np.full((len(self.data), 1), value)])


def _highs(rows: sp.csr_matrix, lo: np.ndarray, hi: np.ndarray, truth: np.ndarray) -> highspy.Highs:
    solver = _Solver()
    solver.setOptionValue("output_flag", False)
    # the same model is solved for many objectives: a warm start from the last basis beats presolving anew
    solver.setOptionValue("presolve", "off")
    solver.setOptionValue("threads", 1)
    solver.setOptionValue("simplex_strategy", 4)  # primal simplex: a new objective keeps the basis feasible
    columns = rows.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = columns.shape[1], columns.shape[0]
    lp.col_cost_ = np.zeros(lp.num_col_)
    lp.col_lower_ = np.zeros(lp.num_col_)
    lp.col_upper_ = np.full(lp.num_col_, highspy.kHighsInf)
    lp.row_lower_ = np.where(np.isfinite(lo), lo, -highspy.kHighsInf)
    lp.row_upper_ = np.where(np.isfinite(hi), hi, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = columns.indptr
    lp.a_matrix_.index_ = columns.indices
    lp.a_matrix_.value_ = columns.data
    solver.passModel(lp)
    _start_from(solver, truth, rows @ truth)
    return solver


def _start_from(solver: highspy.Highs, point: np.ndarray, row_values: np.ndarray) -> None:
    """A first basis at a vertex next to a known feasible point (the true values): HiGHS' crossover from it
    is several times cheaper than finding a feasible basis from the slack basis (a block's first solve).
    Should it fail, the first solve starts from the slack basis as before."""
    limit = solver.getOptionValue("simplex_iteration_limit")[1]
    solver.setOptionValue("simplex_iteration_limit", 0)
    solver.run()  # sets the solver up: highspy's crossover needs that (it crashes on a model never run)
    solver.setOptionValue("simplex_iteration_limit", limit)
    start = highspy.HighsSolution()
    start.col_value, start.row_value = point, row_values
    start.col_dual, start.row_dual = np.zeros(len(point)), np.zeros(len(row_values))
    start.value_valid = start.dual_valid = True
    if solver.crossover(start) == highspy.HighsStatus.kError:
        solver.clearSolver()


def pinned(attacker: Attacker, targets: sp.csr_matrix, values: np.ndarray, block: int | None = None) -> np.ndarray:
    """Which targets the attacker pins to a single integer: first by the points found, then by pushing the
    doubtful ones up and down jointly, then by solving what is still in doubt: the upper bound, and the lower
    one only if the upper leaves the true value the only integer above it (the truth is feasible: lo <= value)."""
    lo, hi, _ = attacker.observed_many(targets, block)
    doubt = single_integers(lo, hi)
    for at_least, at_most in ((values + 1, np.full(len(values), INF)), (np.full(len(values), -INF), values - 1)):
        if doubt.sum() > 1:
            attacker.cover(targets[doubt], at_least[doubt], at_most[doubt], 3)
            lo, hi, _ = attacker.observed_many(targets, block)
            doubt &= single_integers(lo, hi)
    exact = doubt.copy()
    for i in np.flatnonzero(doubt):
        upper = attacker.bounds(targets[i], sense=1)[1]
        exact[i] = upper < values[i] + 1 - TOL and single_integer(attacker.bounds(targets[i], sense=-1)[0], upper)
    return exact


def _free(coefs: np.ndarray) -> tuple[float, float]:
    """What a block nothing published constrains adds to the bounds of a target with these terms there (its
    cells are only >= 0): unbounded above with a positive term, below with a negative one."""
    return (-INF if (coefs < 0).any() else 0.0), (INF if (coefs > 0).any() else 0.0)
