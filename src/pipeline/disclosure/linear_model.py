"""The release as a linear model: every published figure is a sum over inner cells an attacker cannot see.

Statistical offices protect linked tables by writing them as one model, y_published = X' y_inner (Langsrud
2024, section 2; the `x` matrix of Statistics Norway's GaussSuppression), so that what an attacker can derive
from any combination of published figures is a question of linear algebra and linear programming. Here:

Inner cells (never published themselves, the attacker's unknowns, all >= 0)
    - a count per wave, real organisation type, item and answer code (per option for multiple choice),
    - per wave, organisation type and multiple-choice item: its respondents,
    - per wave, organisation type and Handlungsfeld or theme: its respondents,
    - per wave, organisation type and Handlungsfeld: respondents with a free-text answer.

Figures (what the tables publish, as linear combinations of inner cells)
    - answer counts, and their margin over organisation types ('insgesamt' = the sum over the real ones),
    - n_answered (the sum of an item's answer counts; for multiple choice its respondents cell),
    - n_valid (the sum of the scale answers), the mean as value_sum = sum of value * count (a published mean
      with its published n_valid gives value_sum exactly), the top-2 share as n_top2 = n_4 + n_5,
    - per Handlungsfeld and theme: n_respondents, and n_valid, value_sum, n_top2 as sums over its items
      (this is what links the items of a field: they form one block),
    - free-text counts per field and their margin.
    A change since the previous wave is published only when both means are, so it adds nothing to the model.

Derived counts (figures no table shows, `unpublished`, but which published figures may determine)
    - per item: n_answered - n_valid, the respondents who answered "weiß nicht" or "keine Angabe",
    - per item, Handlungsfeld and theme: the top-2 count (top-2 share x n_valid) and the valid answers below
      it (n_valid - the top-2 count, answers 1 to 3),
    each over its organisation type and the margin. They are counts of respondents like a published one, so
    the primary rule applies to them: one of 1 to k - 1 must stay as protected as a hidden count.

Changes (kind CHANGE, `unpublished`; only in the joint model of a release and the one before it)
    - per count in both releases, how much it changed, oriented so that its value is the size of the change
      (a drop by d counts as d): what the respondents who came, left or changed their answers gave.

What else the attacker knows (inequalities): a multiple-choice item's respondents are at least each option's
count and at most their sum; a field's (or theme's) respondents are at least each of its items' n_answered and
at most their sum, and a Handlungsfeld with themes has at least as many respondents as each theme.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

# Figure kinds: a count of respondents or answers, a sum a mean or share is published through, or the change of
# a count between the previous release and this one (never published, see cube.with_previous).
COUNT, DERIVED, CHANGE = 0, 1, 2


@dataclass(frozen=True)
class LinearModel:
    """Published figures as linear combinations of inner cells, and what an attacker knows besides.

    `figures` is figures × inner cells. `basis[f]` is, for a mean or share (kind DERIVED), the count it is
    computed from (its n_valid); -1 for counts. `groups` are the answer counts of each group (wave, organisation
    type, item), `group_answered` the n_answered figure of each, `special` flags those of special-category
    items (the group-disclosure rule looks at them). `respondents_of[f]` is, for an answer, valid-answer or
    free-text count, the figure counting the respondents of its group (n_answered, n_respondents); else -1.
    `type_respondents[f]` is, for a figure of a real organisation type, the most respondents that type has in
    one item or Handlungsfeld of the wave (as much as the marts tell of its size); -1 for the margin.
    `turn[f]` in [0, 1), the same for a real organisation type's figures of one wave and Handlungsfeld (0 for
    the margin), decides whose turn it is to be hidden beside a small type among types of about its size.
    `table[f]` numbers the table a figure belongs to (one item, field or free-text table of one wave): an
    insider's knowledge is followed within it.
    `unpublished` flags figures no table shows (derived counts, changes between releases): hidden always.
    `margin` flags the figures of the margin 'insgesamt', `column` names the value column a figure is of
    ("n", "n_answered", "n_valid", "mean", "top2_share", "n_respondents", "n_texts", or a derived count's),
    and `group_margin[g]` is the group of the margin 'insgesamt' of group g (the same wave and item; a margin
    group is its own): what the rules ask of a figure's place, without parsing its key.
    The attacker also knows `knowledge_lo <= knowledge @ x <= knowledge_hi` and x >= 0.
    """

    values: np.ndarray
    figures: sp.csr_matrix
    keys: np.ndarray
    kind: np.ndarray
    basis: np.ndarray
    grand_total: np.ndarray
    table: np.ndarray
    groups: tuple[np.ndarray, ...]
    group_answered: np.ndarray
    special: np.ndarray
    respondents_of: np.ndarray
    type_respondents: np.ndarray
    turn: np.ndarray
    knowledge: sp.csr_matrix
    knowledge_lo: np.ndarray
    knowledge_hi: np.ndarray
    unpublished: np.ndarray
    margin: np.ndarray
    column: np.ndarray
    group_margin: np.ndarray

    @property
    def n_figures(self) -> int:
        return self.figures.shape[0]

    def hiding(self, hidden: np.ndarray) -> np.ndarray:
        """A pattern with the figures no table shows hidden too (whatever the caller's pattern says)."""
        return hidden | self.unpublished

    def determined(self, hidden: np.ndarray) -> np.ndarray:
        """The unpublished figures that figures `hidden` does not hide determine exactly (by `definitions`: a
        derived count whose figures are published is known to everyone, without an LP)."""
        unpublished, plus, minus = self.definitions
        shown = ~self.hiding(hidden)
        known = shown[plus] & ((minus < 0) | shown[np.maximum(minus, 0)])
        out = np.zeros(self.n_figures, bool)
        out[unpublished[known]] = True
        return out

    @cached_property
    def definitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ways an unpublished figure u is a published figure f of its table, or the difference f - g of two,
        term by term (a derived count: n_answered - n_valid, the top-2 sum, n_valid - the top-2 sum): (u, f,
        g) per way, g = -1 for f alone. Found from the rows themselves: f holds u's first cell, and f - u is
        nothing or the row of a published figure (matched by a random projection, then compared term by term)."""
        figures = self.figures.copy()
        figures.sum_duplicates()
        figures.eliminate_zeros()
        n = self.n_figures
        unpublished = np.flatnonzero(self.unpublished & (np.diff(figures.indptr) > 0))
        by_cell = figures.tocsc()
        first = figures.indices[figures.indptr[unpublished]]
        holding = np.diff(by_cell.indptr)[first]
        u = np.repeat(unpublished, holding)
        offset = np.arange(holding.sum()) - np.repeat(np.cumsum(holding) - holding, holding)
        f = by_cell.indices[np.repeat(by_cell.indptr[first], holding) + offset]
        keep = ~self.unpublished[f] & (self.table[f] == self.table[u])
        u, f = u[keep], f[keep]
        rest = ((_picked(f, n) - _picked(u, n)) @ figures).tocsr()
        rest.eliminate_zeros()
        projection = np.random.default_rng(0).uniform(1.0, 2.0, figures.shape[1])
        published = np.flatnonzero(~self.unpublished)
        keys = np.round(figures[published] @ projection, 6)
        order = np.argsort(keys)
        wanted = np.round(rest @ projection, 6)
        at = np.minimum(np.searchsorted(keys[order], wanted), len(order) - 1) if len(order) else np.zeros(len(u), int)
        g = np.where(np.diff(rest.indptr) == 0, -1, published[order][at] if len(order) else -1)
        # compared term by term: f - u - g has no term left (g = -1: f - u had none)
        has_g = np.flatnonzero(g >= 0)
        pick_g = sp.csr_matrix((np.ones(len(has_g)), (has_g, g[has_g])), shape=(len(u), n))
        left = (rest - pick_g @ figures).tocsr()
        left.eliminate_zeros()
        way = np.diff(left.indptr) == 0
        return u[way], f[way], g[way]

    @cached_property
    def figure_values(self) -> np.ndarray:
        return self.figures @ self.values

    @cached_property
    def own(self) -> np.ndarray:
        """For every inner cell the figure that publishes it alone (-1 if none): publishing it fixes the cell."""
        own = np.full(self.figures.shape[1], -1)
        single = np.flatnonzero(np.diff(self.figures.indptr) == 1)
        own[self.figures.indices[self.figures.indptr[single]]] = single
        return own

    @cached_property
    def non_negative(self) -> np.ndarray:
        """Figures whose terms all count positively (all but changes): a published 0 makes each term 0."""
        rows = np.repeat(np.arange(self.n_figures), np.diff(self.figures.indptr))
        negative = np.zeros(self.n_figures, bool)
        negative[rows[self.figures.data < 0]] = True
        return ~negative

    @cached_property
    def index(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self.keys)}

    def parts(self) -> list[tuple[np.ndarray, LinearModel]]:
        """The model split into parts that share nothing: no inner cell, no figure, no knowledge, no reference
        (a mean to its n_valid, a count to its group's respondents). Each part (a Handlungsfeld of one wave with
        its items and free texts, or an item outside any field) can be suppressed and audited on its own; a
        pattern passes for the whole model exactly when it passes for every part. Returns (the part's figures
        in this model, the part as a model of its own), the largest part first."""
        n_fig, n_var, n_know = self.n_figures, self.figures.shape[1], self.knowledge.shape[0]
        fig_terms = self.figures.tocoo()
        know_terms = self.knowledge.tocoo()
        refers = np.flatnonzero(self.basis >= 0), np.flatnonzero(self.respondents_of >= 0)
        answered = np.repeat(self.group_answered, [len(m) for m in self.groups])
        members = np.concatenate([*self.groups, np.zeros(0, int)]).astype(int)
        edges = np.concatenate(
            [
                np.stack([fig_terms.row, n_fig + fig_terms.col]),
                np.stack([n_fig + n_var + know_terms.row, n_fig + know_terms.col]),
                np.stack([refers[0], self.basis[refers[0]]]),
                np.stack([refers[1], self.respondents_of[refers[1]]]),
                np.stack([members, answered]),
            ],
            axis=1,
        )
        n = n_fig + n_var + n_know
        graph = sp.csr_matrix((np.ones(edges.shape[1]), (edges[0], edges[1])), shape=(n, n))
        n_parts, label = connected_components(graph, directed=False)
        figures_of = split_by(np.arange(n_fig), label[:n_fig], n_parts)
        vars_of = split_by(np.arange(n_var), label[n_fig : n_fig + n_var], n_parts)
        know_of = split_by(np.arange(n_know), label[n_fig + n_var :], n_parts)
        group_part = label[self.group_answered] if len(self.groups) else np.zeros(0, int)
        groups_of = split_by(np.arange(len(self.groups)), group_part, n_parts)
        out = [
            (figures_of[i], self._part(figures_of[i], vars_of[i], know_of[i], groups_of[i]))
            for i in range(n_parts)
            if len(figures_of[i])
        ]
        return sorted(out, key=lambda part: -part[1].figures.nnz)

    def _part(self, figures: np.ndarray, variables: np.ndarray, rows: np.ndarray, groups: np.ndarray) -> LinearModel:
        position = np.full(self.n_figures, -1)
        position[figures] = np.arange(len(figures))
        group_position = np.full(len(self.groups), -1)
        group_position[groups] = np.arange(len(groups))  # a group and its margin share cells: one part

        def local(refs: np.ndarray) -> np.ndarray:
            return np.where(refs >= 0, position[np.maximum(refs, 0)], -1)

        return LinearModel(
            values=self.values[variables],
            figures=self.figures[figures][:, variables].tocsr(),
            keys=self.keys[figures],
            kind=self.kind[figures],
            basis=local(self.basis[figures]),
            grand_total=self.grand_total[figures],
            table=self.table[figures],
            groups=tuple(position[self.groups[g]] for g in groups),
            group_answered=position[self.group_answered[groups]],
            special=self.special[groups],
            respondents_of=local(self.respondents_of[figures]),
            type_respondents=self.type_respondents[figures],
            turn=self.turn[figures],
            knowledge=self.knowledge[rows][:, variables].tocsr(),
            knowledge_lo=self.knowledge_lo[rows],
            knowledge_hi=self.knowledge_hi[rows],
            unpublished=self.unpublished[figures],
            margin=self.margin[figures],
            column=self.column[figures],
            group_margin=group_position[self.group_margin[groups]],
        )


def _picked(figures: np.ndarray, n: int) -> sp.csr_matrix:
    """A row per entry of `figures` that picks that figure (a selection matrix)."""
    return sp.csr_matrix((np.ones(len(figures)), (np.arange(len(figures)), figures)), shape=(len(figures), n))


def column_blocks(matrix: sp.spmatrix) -> tuple[int, np.ndarray]:
    """Connected components of the columns (two are linked when a row holds both), numbered in the order of
    their first column, found on the row-column graph: the column-column graph squares the terms of every
    long sum (a million entries for the largest block here)."""
    n_rows, n_cols = matrix.shape
    terms = matrix.tocoo()
    graph = sp.csr_matrix((np.ones(terms.nnz), (terms.row, n_rows + terms.col)), shape=(n_rows + n_cols,) * 2)
    _, label = connected_components(graph, directed=False)
    _, first, component = np.unique(label[n_rows:], return_index=True, return_inverse=True)
    number = np.empty(len(first), int)
    number[np.argsort(first)] = np.arange(len(first))
    return len(first), number[component]


def row_blocks(matrix: sp.csr_matrix, column_block: np.ndarray) -> np.ndarray:
    """The block of each row (that of its first term: a row lies in one block), -1 for a row without terms."""
    has_terms = np.diff(matrix.indptr) > 0
    out = np.full(matrix.shape[0], -1)
    out[has_terms] = column_block[matrix.indices[matrix.indptr[:-1][has_terms]]]
    return out


def others_of(figures: sp.csr_matrix, groups: list[tuple[np.ndarray, int]]) -> sp.csr_matrix:
    """Per one-code group (its answer-count figures, the code answered), the sum of its other codes over the
    inner cells: 0, which an attacker must not be able to prove (the group rule)."""
    entries = [(g, f) for g, (members, answered) in enumerate(groups) for f in members if f != answered]
    rows, members = np.array(entries, dtype=int).reshape(-1, 2).T
    pick = sp.csr_matrix((np.ones(len(rows)), (rows, members)), shape=(len(groups), figures.shape[0]))
    others = (pick @ figures).tocsr()
    others.eliminate_zeros()
    return others


def split_by(items: np.ndarray, labels: np.ndarray, n: int) -> list[np.ndarray]:
    """`items` split by their label 0..n-1, each part in its original order."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    return [items[order[bounds[i] : bounds[i + 1]]] for i in range(n)]
