"""Building the linear model of a release (linear_model.py) from its marts, and the published tables back from
a suppression pattern.

Cell keys, stable across releases (a release stores the keys of its hidden cells, the next keeps them hidden):
    item_distribution|<wave>|<org_type>|<item_code>|n|<answer_code>
    item_results|<wave>|<org_type>|<item_code>|<column>        column: n_answered, n_valid, mean, top2_share,
                                                                        mean_change, top2_change
    field_results|<wave>|<org_type>|<field>|<column>           field: the field code ("HF1") for level
                                                                handlungsfeld, "<field>.<theme>" ("HF3.BIL")
                                                                for level thema; columns: n_respondents,
                                                                n_valid, mean, top2_share, mean_change,
                                                                top2_change
    free_text_counts|<wave>|<org_type>|<field_code>|n_texts
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.disclosure import grouping
from pipeline.disclosure.linear_model import CHANGE, COUNT, DERIVED, LinearModel
from pipeline.vocabulary import HIDDEN, MARTS, NOT_APPLICABLE, PUBLISHED, TOTAL

_ITEM_KEY = ["wave", "org_type", "item_code"]
_COLUMNS = {
    "item_distribution": [
        "wave", "wave_label", "org_type", "org_type_label", "field_code", "field_label", "theme_code", "item_code",
        "item_label", "answer_code", "answer_label", "answer_ordinal", "answer_value", "n",
    ],
    "item_results": [
        "wave", "wave_label", "org_type", "org_type_label", "field_number", "field_code", "field_label",
        "theme_code", "theme_label", "item_code", "item_label", "item_type", "n_answered", "n_valid", "mean",
        "top2_share", "mean_change", "top2_change",
    ],
    "field_results": [
        "wave", "wave_label", "org_type", "org_type_label", "level", "field_number", "field_code", "field_label",
        "theme_code", "theme_label", "n_respondents", "n_valid", "mean", "top2_share", "mean_change",
        "top2_change",
    ],
    "free_text_counts": ["wave", "wave_label", "org_type", "org_type_label", "field_code", "field_label", "n_texts"],
}  # fmt: skip
_COUNTS = {"n", "n_answered", "n_valid", "n_respondents", "n_texts"}
# what the inner cells' rows need to be matched to the figures they make up
_TERM_COLUMNS = ["wave", "org_type", "level", "field_code", "theme_code", "item_code", "answer_code", "answer_value"]


@dataclass(frozen=True)
class Cube:
    """The marts of a release as a linear model, and where each figure sits in the published tables."""

    model: LinearModel
    frames: dict[str, pd.DataFrame]
    # table -> column -> the figure behind each row's value (-1: no figure, e.g. the mean of a yes/no item)
    cells: dict[str, dict[str, np.ndarray]]

    def tables(
        self, hidden: np.ndarray, previous_hidden: set[str] | frozenset[str] = frozenset()
    ) -> tuple[dict[str, pd.DataFrame], set[str]]:
        """The published tables with a `<column>_status` beside every value, and the keys of all hidden cells.

        `hidden` flags figures. A mean or share without a figure (no valid answer) is "x" where its n_valid is
        published (0 is visible) and hidden where n_valid is; a change is published only where both means are,
        "x" where either is not applicable. A key in `previous_hidden` is never shown again.
        """
        status: dict[str, dict[str, np.ndarray]] = {}
        for name, columns in self.cells.items():
            status[name] = {}
            for column, figure in columns.items():
                s = np.where(hidden[np.maximum(figure, 0)], HIDDEN, PUBLISHED).astype(object)
                s[figure < 0] = NOT_APPLICABLE
                status[name][column] = s
        for name in ("item_results", "field_results"):
            frame, st = self.frames[name], status[name]
            applicable = is_scale(frame)
            st["n_valid"][~applicable] = NOT_APPLICABLE
            for column in ("mean", "top2_share"):
                no_figure = (self.cells[name][column] < 0) & applicable
                st[column][no_figure] = np.where(st["n_valid"][no_figure] == PUBLISHED, NOT_APPLICABLE, HIDDEN)
            key = (
                ["org_type", "item_code"]
                if name == "item_results"
                else ["org_type", "level", "field_code", "theme_code"]
            )
            for column, mean in (("mean_change", "mean"), ("top2_change", "top2_share")):
                st[column] = change_status(frame, st[mean], key, column)
        out: dict[str, pd.DataFrame] = {}
        hidden_keys: set[str] = set()
        for name, frame in self.frames.items():
            table = published_frame(name, frame, self.frames["item_results"])
            for column in value_columns(name):
                keys = cell_keys(name, frame, column)
                s = status[name][column]
                again = among(keys, previous_hidden) & (s == PUBLISHED) if previous_hidden else None
                if again is not None:
                    s[again] = HIDDEN
                hidden_keys.update(keys[s == HIDDEN])
                with_status(table, column, s)
            out[name] = table
        return out, hidden_keys


def information_loss(
    frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame], primary: set[str], k: int
) -> dict[str, Any]:
    """What the protection cost, as statistical offices report it: per published table and value column the cells
    published, hidden by the primary rules and hidden by secondary suppression (cells that do not apply, "x", are
    none of them), and the share of key figures published: the scale means of items and Handlungsfelder of groups
    with at least k valid answers (and k respondents), over the organisation types and "insgesamt", and per wave and
    organisation type (`by_org_type`: a type that loses its whole column shows there)."""
    cells: dict[str, dict[str, dict[str, int]]] = {}
    for name, frame in frames.items():
        cells[name] = {}
        for column in value_columns(name):
            status = tables[name][f"{column}_status"].to_numpy()
            in_primary = among(cell_keys(name, frame, column), primary)
            cells[name][column] = {
                "published": int((status == PUBLISHED).sum()),
                "primary": int(((status == HIDDEN) & in_primary).sum()),
                "secondary": int(((status == HIDDEN) & ~in_primary).sum()),
            }
    results, fields = frames["item_results"], frames["field_results"]
    item_means = is_scale(results) & (results["n_valid"].to_numpy() >= k)
    # a Handlungsfeld's n_valid counts answers, several per respondent: its group needs k respondents too
    field_means = fields["level"].eq("handlungsfeld").to_numpy() & (fields["n_valid"].to_numpy() >= k)
    field_means &= fields["n_respondents"].to_numpy() >= k
    key_figures: dict[str, Any] = {}
    by_type = []
    for label, name, eligible in (
        ("item_means", "item_results", item_means),
        ("field_means", "field_results", field_means),
    ):
        shown = tables[name]["mean_status"].to_numpy() == PUBLISHED
        total = frames[name]["org_type"].eq(TOTAL).to_numpy()
        for scope, rows in (("", eligible), ("_insgesamt", eligible & total), ("_org_types", eligible & ~total)):
            key_figures[label + scope] = {"groups": int(rows.sum()), "published": int((rows & shown).sum())}
        groups = frames[name][["wave", "org_type"]].assign(groups=eligible, published=eligible & shown)
        by_type.append(groups.groupby(["wave", "org_type"], sort=True)[["groups", "published"]].sum())
    per_type = pd.concat(by_type, axis=1, keys=["item_means", "field_means"]).fillna(0).astype(int)
    key_figures["by_org_type"] = [
        {
            "wave": str(wave),
            "org_type": str(org_type),
            **{label: {"groups": int(row[label, "groups"]), "published": int(row[label, "published"])}
               for label in ("item_means", "field_means")},
        }
        for (wave, org_type), row in per_type.iterrows()
    ]  # fmt: skip
    return {"cells": cells, "key_figures": key_figures}


def build(marts: dict[str, pd.DataFrame]) -> Cube:
    """The linear model of the marts (restricted to the waves to publish); raises if the marts do not add up."""
    frames = {name: marts[name].reset_index(drop=True) for name in MARTS}
    return _Builder(frames).cube()


class _Builder:
    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.frames = frames
        self.rows: list[pd.DataFrame] = []  # figure, var, coef
        self.keys: list[np.ndarray] = []
        self.wave_org: list[pd.DataFrame] = []  # each figure's wave, organisation type and Handlungsfeld
        self.kind: list[np.ndarray] = []
        self.columns: list[np.ndarray] = []
        self.basis: list[np.ndarray] = []
        self.total: list[np.ndarray] = []
        self.tables: list[np.ndarray] = []
        self.expected: list[np.ndarray] = []
        self.n_figures = 0
        self.n_vars = 0
        self.var_values: list[np.ndarray] = []
        self.cells: dict[str, dict[str, np.ndarray]] = {name: {} for name in MARTS}
        self.unpublished_rows: list[tuple[str, np.ndarray, np.ndarray]] = []  # table, figures, their rows

    def cube(self) -> Cube:
        dist, results = self.frames["item_distribution"], self.frames["item_results"]
        fields, texts = self.frames["field_results"], self.frames["free_text_counts"]
        counts = self._vars(dist, "n")
        multi = results["item_type"].eq("multi")
        respondents_of_multi = self._vars(results[multi], "n_answered")
        field_respondents = self._vars(fields, "n_respondents")
        text_vars = self._vars(texts, "n_texts")

        item_table = (dist["wave"].astype(str) + "|" + dist["item_code"].astype(str)).to_numpy()
        self._figures(
            "item_distribution", "n", dist, _with_total(counts, _ITEM_KEY + ["answer_code"]),
            _ITEM_KEY + ["answer_code"], item_table,
        )  # fmt: skip

        # n_answered: the answer counts of a single-answer item, the respondents cell of a multiple-choice one
        answered_terms = pd.concat([counts[~counts["item_code"].isin(_multi_items(results))], respondents_of_multi])
        result_table = (results["wave"].astype(str) + "|" + results["item_code"].astype(str)).to_numpy()
        self._figures(
            "item_results", "n_answered", results, _with_total(answered_terms, _ITEM_KEY), _ITEM_KEY, result_table,
            grand_total=results["org_type"].eq(TOTAL).to_numpy() & _as_many_as_their_field(results, fields),
        )  # fmt: skip
        scale = counts[counts["answer_value"].notna()]
        self._scale_figures("item_results", results, _with_total(scale, _ITEM_KEY), _ITEM_KEY, result_table)

        field_keys = ["wave", "org_type", "level", "field_code", "theme_code"]
        field_table = (
            fields["wave"].astype(str) + "|" + fields["level"].astype(str) + "|" + _field_code(fields)
        ).to_numpy()
        self._figures(
            "field_results", "n_respondents", fields, _with_total(field_respondents, field_keys), field_keys,
            field_table, grand_total=fields["org_type"].eq(TOTAL).to_numpy(),
        )  # fmt: skip
        in_fields = _field_members(_with_total(scale[scale["field_code"].notna()], ["wave", "org_type"]), fields)
        self._scale_figures("field_results", fields, in_fields, field_keys, field_table)

        text_keys = ["wave", "org_type", "field_code"]
        text_table = (texts["wave"].astype(str) + "|text|" + texts["field_code"].astype(str)).to_numpy()
        self._figures(
            "free_text_counts", "n_texts", texts, _with_total(text_vars, text_keys), text_keys, text_table,
            grand_total=texts["org_type"].eq(TOTAL).to_numpy(),
        )  # fmt: skip

        values = np.concatenate(self.var_values) if self.var_values else np.zeros(0)
        n_published = self.n_figures
        figures = self._derived_counts(self._matrix(), result_table, field_table)
        unpublished = np.arange(self.n_figures) >= n_published
        knowledge, lo, hi = self._knowledge(counts, respondents_of_multi, field_respondents, answered_terms)
        table_ids, _ = pd.factorize(np.concatenate(self.tables), sort=True)  # hashed: np.unique sorts strings
        groups, group_answered, special, group_margin = self._groups(dist, results)
        respondents_of = self._respondents_of(dist, results, fields, texts)
        keys = np.concatenate(self.keys).astype(object)
        wave_org = pd.concat(self.wave_org, ignore_index=True)
        model = LinearModel(
            values=values,
            figures=figures,
            keys=keys,
            kind=np.concatenate(self.kind),
            basis=np.concatenate(self.basis),
            grand_total=np.concatenate(self.total),
            table=table_ids,
            groups=groups,
            group_answered=group_answered,
            special=special,
            respondents_of=respondents_of,
            type_respondents=self._type_respondents(wave_org),
            turn=_turns(wave_org),
            knowledge=knowledge,
            knowledge_lo=lo,
            knowledge_hi=hi,
            unpublished=unpublished,
            margin=wave_org["org_type"].eq(TOTAL).to_numpy(),
            column=np.concatenate(self.columns),
            group_margin=group_margin,
        )
        _check(model, np.concatenate(self.expected))
        return Cube(model, self.frames, self.cells)

    def _matrix(self) -> sp.csr_matrix:
        terms = pd.concat(self.rows, ignore_index=True)
        return sp.csr_matrix(
            (terms["coef"].to_numpy(float), (terms["figure"].to_numpy(int), terms["var"].to_numpy(int))),
            shape=(self.n_figures, self.n_vars),
        )

    def _derived_counts(
        self, figures: sp.csr_matrix, result_table: np.ndarray, field_table: np.ndarray
    ) -> sp.csr_matrix:
        """The counts of respondents that published figures determine, as figures of their own (unpublished,
        after the published ones): an item's n_answered - n_valid ("weiß nicht" and "keine Angabe"), and per
        item, Handlungsfeld and theme the top-2 count (share x n_valid) and n_valid minus it. Returns the
        model's matrix with them."""
        derived: list[tuple[np.ndarray, np.ndarray]] = []  # per derived count: the figures added, subtracted
        for table, frame, tables in (
            ("item_results", self.frames["item_results"], result_table),
            ("field_results", self.frames["field_results"], field_table),
        ):
            cells = self.cells[table]
            rows = np.flatnonzero(cells["top2_share"] >= 0)
            top2, valid = cells["top2_share"][rows], cells["n_valid"][rows]
            for column, plus, minus in (("n_top2", top2, None), ("n_below_top2", valid, top2)):
                self._add_unpublished(table, column, frame, rows, tables)
                derived.append((plus, np.full(len(rows), -1) if minus is None else minus))
            if table == "item_results":
                answered, valid = cells["n_answered"], cells["n_valid"]
                rows = np.flatnonzero((answered >= 0) & (valid >= 0))
                self._add_unpublished(table, "n_not_valid", frame, rows, tables)
                derived.append((answered[rows], valid[rows]))
        plus = np.concatenate([p for p, _ in derived])
        minus = np.concatenate([m for _, m in derived])
        row = np.arange(len(plus))
        has = minus >= 0
        pick = sp.csr_matrix(
            (np.r_[np.ones(len(plus)), -np.ones(has.sum())], (np.r_[row, row[has]], np.r_[plus, minus[has]])),
            shape=(len(plus), figures.shape[0]),
        )
        added = (pick @ figures).tocsr()
        added.eliminate_zeros()
        self.expected.append(pick @ np.concatenate(self.expected))
        return sp.vstack([figures, added]).tocsr()

    def _add_unpublished(
        self, table: str, column: str, frame: pd.DataFrame, rows: np.ndarray, tables: np.ndarray
    ) -> None:
        """Register figures no table shows (their terms are added by the caller): keys, kinds and tables, and
        the rows they belong to (a derived count is of its row's respondents, see `_respondents_of`)."""
        self.unpublished_rows.append((table, np.arange(self.n_figures, self.n_figures + len(rows)), rows))
        self.n_figures += len(rows)
        self.keys.append(cell_keys(table, frame.iloc[rows], column))
        self.wave_org.append(_wave_org(frame.iloc[rows]))
        self.kind.append(np.full(len(rows), COUNT, dtype=np.int8))
        self.columns.append(np.full(len(rows), column, dtype=object))
        self.basis.append(np.full(len(rows), -1))
        self.total.append(np.zeros(len(rows), bool))
        self.tables.append(tables[rows])

    def _vars(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        """One inner cell per row of a real organisation type; returns the rows with their `var`."""
        keep = [c for c in [*_TERM_COLUMNS, column] if c in frame]  # not the labels: each merge would carry them
        real = frame.loc[frame["org_type"] != TOTAL, keep]
        real["var"] = np.arange(self.n_vars, self.n_vars + len(real))
        real["coef"] = 1.0
        self.n_vars += len(real)
        self.var_values.append(real[column].to_numpy(float))
        return real

    def _add(
        self,
        table: str,
        column: str,
        frame: pd.DataFrame,
        rows: np.ndarray,
        terms: pd.DataFrame,
        kind: int,
        expected: np.ndarray,
        tables: np.ndarray,
        basis: np.ndarray | None = None,
        grand_total: np.ndarray | None = None,
    ) -> np.ndarray:
        """Register figures for `rows` of `frame`; `terms` has `row`, `var`, `coef`. Returns their indices."""
        ids = np.arange(self.n_figures, self.n_figures + len(rows))
        self.n_figures += len(rows)
        figure_of_row = np.full(len(frame), -1)
        figure_of_row[rows] = ids
        self.cells[table][column] = figure_of_row
        self.rows.append(
            pd.DataFrame({"figure": figure_of_row[terms["row"].to_numpy()], "var": terms["var"], "coef": terms["coef"]})
        )
        self.keys.append(cell_keys(table, frame.iloc[rows], column))
        self.wave_org.append(_wave_org(frame.iloc[rows]))
        self.kind.append(np.full(len(rows), kind, dtype=np.int8))
        self.columns.append(np.full(len(rows), column, dtype=object))
        self.basis.append(np.full(len(rows), -1) if basis is None else basis)
        self.total.append(np.zeros(len(rows), bool) if grand_total is None else grand_total[rows])
        self.tables.append(tables[rows])
        self.expected.append(expected)
        return ids

    def _figures(
        self,
        table: str,
        column: str,
        frame: pd.DataFrame,
        members: pd.DataFrame,
        on: list[str],
        tables: np.ndarray,
        grand_total: np.ndarray | None = None,
    ) -> None:
        terms = _terms(frame, members, on)
        rows = np.arange(len(frame))
        self._add(table, column, frame, rows, terms, COUNT, frame[column].to_numpy(float), tables, None, grand_total)

    def _scale_figures(
        self, table: str, frame: pd.DataFrame, members: pd.DataFrame, on: list[str], tables: np.ndarray
    ) -> None:
        """n_valid, and where it is positive the sums behind the mean (value_sum) and top-2 share (n_top2)."""
        terms = _terms(frame, members, on)
        scale_rows = np.flatnonzero(is_scale(frame))
        in_scale = terms[np.isin(terms["row"], scale_rows)]
        self._add(
            table, "n_valid", frame, scale_rows, in_scale, COUNT, frame["n_valid"].to_numpy(float)[scale_rows], tables
        )
        valid = scale_rows[frame["n_valid"].to_numpy()[scale_rows] > 0]
        basis = self.cells[table]["n_valid"][valid]
        with_values = in_scale[np.isin(in_scale["row"], valid)]
        sums = with_values.assign(coef=with_values["answer_value"].astype(float))
        self._add(table, "mean", frame, valid, sums, DERIVED, frame["value_sum"].to_numpy(float)[valid], tables, basis)
        top2 = with_values[with_values["answer_value"] >= 4]
        self._add(
            table, "top2_share", frame, valid, top2, DERIVED, frame["n_top2"].to_numpy(float)[valid], tables, basis
        )

    def _knowledge(
        self,
        counts: pd.DataFrame,
        respondents_of_multi: pd.DataFrame,
        field_respondents: pd.DataFrame,
        answered_terms: pd.DataFrame,
    ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Rows `a @ x <= 0` an attacker knows from how the figures are defined."""
        parts: list[pd.DataFrame] = []
        n_rows = 0

        def rows(terms: pd.DataFrame, group: np.ndarray) -> None:
            nonlocal n_rows
            row, _ = pd.factorize(group, sort=True)
            parts.append(pd.DataFrame({"row": row + n_rows, "var": terms["var"].to_numpy(), "coef": terms["coef"]}))
            n_rows += int(row.max()) + 1 if len(row) else 0

        # a multiple-choice item: each option count <= its respondents <= the sum of the option counts
        options = counts.merge(respondents_of_multi[_ITEM_KEY + ["var"]], on=_ITEM_KEY, suffixes=("", "_r"))
        pair = np.arange(len(options))
        rows(_stack(options, "var", 1.0, "var_r", -1.0), np.concatenate([pair, pair]))
        total = pd.concat(
            [
                respondents_of_multi.assign(coef=1.0)[["var", "coef"]].assign(g=respondents_of_multi["var"].to_numpy()),
                options.assign(coef=-1.0, g=options["var_r"])[["var", "coef", "g"]],
            ]
        )
        rows(total, total["g"].to_numpy())

        # a field's or theme's respondents: each item's n_answered <= them <= the sum over its items
        answered = answered_terms[_ITEM_KEY + ["var"]].merge(self._item_fields(), on=_ITEM_KEY)
        resp = field_respondents[["wave", "org_type", "level", "field_code", "theme_code", "var"]]
        by_field = resp[resp["level"] == "handlungsfeld"].drop(columns=["level", "theme_code"])
        by_theme = resp[resp["level"] == "thema"].drop(columns=["level"])
        members = pd.concat(
            [
                answered.merge(by_field, on=["wave", "org_type", "field_code"]),
                answered.merge(by_theme, on=["wave", "org_type", "field_code", "theme_code"]),
            ],
            ignore_index=True,
        )  # var_x: an answer count or respondents cell of the item, var_y: the field's or theme's respondents
        item_pair = members["var_y"].astype(str) + "|" + members["item_code"].astype(str)
        below = pd.concat(
            [
                pd.DataFrame({"var": members["var_x"], "coef": 1.0, "g": item_pair}),
                pd.DataFrame({"var": members["var_y"], "coef": -1.0, "g": item_pair}).drop_duplicates(),
            ]
        )
        rows(below, below["g"].to_numpy())
        above = pd.concat(
            [
                pd.DataFrame({"var": members["var_y"].unique(), "coef": 1.0, "g": members["var_y"].unique()}),
                pd.DataFrame({"var": members["var_x"], "coef": -1.0, "g": members["var_y"]}),
            ]
        )
        rows(above, above["g"].to_numpy())

        # a Handlungsfeld with themes: at least as many respondents as each theme, at most their sum
        themes = by_theme.merge(by_field, on=["wave", "org_type", "field_code"])
        pair = np.arange(len(themes))
        rows(_stack(themes, "var_x", 1.0, "var_y", -1.0), np.concatenate([pair, pair]))
        complete = themes[~themes["var_y"].isin(members.loc[members["theme_code"].isna(), "var_y"])]
        sums = pd.concat(
            [
                pd.DataFrame({"var": complete["var_y"].unique(), "coef": 1.0, "g": complete["var_y"].unique()}),
                pd.DataFrame({"var": complete["var_x"], "coef": -1.0, "g": complete["var_y"]}),
            ]
        )
        rows(sums, sums["g"].to_numpy())

        terms = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"row": [], "var": [], "coef": []})
        knowledge = sp.csr_matrix(
            (terms["coef"].to_numpy(float), (terms["row"].to_numpy(int), terms["var"].to_numpy(int))),
            shape=(n_rows, self.n_vars),
        )
        knowledge.sum_duplicates()
        return knowledge, np.full(n_rows, -np.inf), np.zeros(n_rows)

    def _item_fields(self) -> pd.DataFrame:
        results = self.frames["item_results"]
        items = results[(results["org_type"] != TOTAL) & results["field_code"].notna()]
        return items[_ITEM_KEY + ["field_code", "theme_code"]]

    def _respondents_of(
        self, dist: pd.DataFrame, results: pd.DataFrame, fields: pd.DataFrame, texts: pd.DataFrame
    ) -> np.ndarray:
        out = np.full(self.n_figures, -1)
        answered = results[_ITEM_KEY].assign(of=self.cells["item_results"]["n_answered"])
        counts = dist[_ITEM_KEY].assign(figure=self.cells["item_distribution"]["n"]).merge(answered, on=_ITEM_KEY)
        out[counts["figure"].to_numpy()] = counts["of"].to_numpy()
        in_field = fields["level"].eq("handlungsfeld").to_numpy()
        respondents = fields.loc[in_field, ["wave", "org_type", "field_code"]].assign(
            of=self.cells["field_results"]["n_respondents"][in_field]
        )
        text_key = ["wave", "org_type", "field_code"]
        written = (
            texts[text_key].assign(figure=self.cells["free_text_counts"]["n_texts"]).merge(respondents, on=text_key)
        )
        out[written["figure"].to_numpy()] = written["of"].to_numpy()
        respondents = {"item_results": "n_answered", "field_results": "n_respondents"}
        for table, column in respondents.items():
            valid, of = self.cells[table]["n_valid"], self.cells[table][column]
            has = valid >= 0
            out[valid[has]] = of[has]
        for table, figures, rows in self.unpublished_rows:
            out[figures] = self.cells[table][respondents[table]][rows]
        return out

    def _type_respondents(self, wave_org: pd.DataFrame) -> np.ndarray:
        size = grouping.respondents(self.frames)
        out = size.reindex(pd.MultiIndex.from_frame(wave_org)).to_numpy(float, copy=True)
        out[wave_org["org_type"].eq(TOTAL).to_numpy() | np.isnan(out)] = -1
        return out

    def _groups(
        self, dist: pd.DataFrame, results: pd.DataFrame
    ) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray, np.ndarray]:
        """The answer counts of every group (wave, organisation type, item), the figure of its respondents
        (n_answered), which groups are of special-category items, and each group's margin group."""
        special = set(results.loc[results["special_category"].fillna(False).astype(bool), "item_code"])
        figures = self.cells["item_distribution"]["n"]
        by_group = dist.groupby(_ITEM_KEY, sort=False).indices
        members = tuple(figures[idx] for idx in by_group.values())
        row_of = {key: row for row, key in enumerate(results[_ITEM_KEY].itertuples(index=False, name=None))}
        answered = self.cells["item_results"]["n_answered"][[row_of[key] for key in by_group]]
        is_special = np.array([key[2] in special for key in by_group], dtype=bool)
        number = {key: g for g, key in enumerate(by_group)}
        margin = np.array([number.get((wave, TOTAL, item), -1) for wave, _, item in by_group], dtype=int)
        return members, answered, is_special, margin


PREVIOUS, CHANGED = "previous|", "change|"


def with_previous(model: LinearModel, previous: LinearModel) -> LinearModel:
    """The model of this release together with the previous release's, and the changes between them.

    An open wave published night after night lets an attacker subtract two releases: what changed is what the
    newcomers answered; so can any two releases of a closed wave that late responses, edits, erasures or a
    partner's full re-read changed. So the previous release's figures (keys prefixed "previous|", an inner
    cell set of their own) join the model, and for every count in both releases its change (keys prefixed
    "change|", kind CHANGE) is a figure that is never published: this release's count minus the previous
    one's, oriented so that its value is the size of the change (a drop by d counts as d), which the rules
    make primary where 0 < d < k and the audit attacks with both releases in hand (the attacker must not
    prove it as large as it is). The change of a grand total (how many answered since) is the one change
    both releases publish. This model's figures come first, in their order."""
    if not len(model.keys) or not len(previous.keys):
        return model
    n_new, n_old = model.n_figures, previous.n_figures
    v_new, v_old = model.figures.shape[1], previous.figures.shape[1]
    counts = np.flatnonzero(model.kind == COUNT)
    old_of = pd.Series(np.arange(n_old), index=pd.Index(previous.keys)).reindex(model.keys[counts]).to_numpy()
    pairs = ~np.isnan(old_of)
    mine, theirs = counts[pairs], old_of[pairs].astype(int)
    grew = model.figure_values[mine] >= previous.figure_values[theirs]
    size = sp.diags(np.where(grew, 1.0, -1.0))  # the change oriented: a drop counts by its size
    change = size @ sp.hstack([model.figures[mine], -previous.figures[theirs]])
    figures = sp.vstack(
        [
            sp.hstack([model.figures, sp.csr_matrix((n_new, v_old))]),
            sp.hstack([sp.csr_matrix((n_old, v_new)), previous.figures]),
            change,
        ]
    ).tocsr()
    n_tables = int(model.table.max()) + 1 if n_new else 0

    def shifted(refs: np.ndarray, by: int) -> np.ndarray:
        return np.where(refs >= 0, refs + by, -1)

    return LinearModel(
        values=np.concatenate([model.values, previous.values]),
        figures=figures,
        keys=np.concatenate(
            [model.keys, PREVIOUS + previous.keys.astype(str), CHANGED + model.keys[mine].astype(str)]
        ).astype(object),
        kind=np.concatenate([model.kind, previous.kind, np.full(len(mine), CHANGE, dtype=model.kind.dtype)]),
        basis=np.concatenate([model.basis, shifted(previous.basis, n_new), np.full(len(mine), -1)]),
        grand_total=np.concatenate([model.grand_total, previous.grand_total, model.grand_total[mine]]),
        # a change belongs to its count's table: an insider in it knows their own answer is among the new ones
        table=np.concatenate([model.table, previous.table + n_tables, model.table[mine]]),
        groups=model.groups + tuple(g + n_new for g in previous.groups),
        group_answered=np.concatenate([model.group_answered, previous.group_answered + n_new]),
        special=np.concatenate([model.special, previous.special]),
        respondents_of=np.concatenate(
            [model.respondents_of, shifted(previous.respondents_of, n_new), np.full(len(mine), -1)]
        ),
        type_respondents=np.concatenate(
            [model.type_respondents, previous.type_respondents, model.type_respondents[mine]]
        ),
        turn=np.concatenate([model.turn, previous.turn, model.turn[mine]]),
        knowledge=sp.block_diag([model.knowledge, previous.knowledge], format="csr"),
        knowledge_lo=np.concatenate([model.knowledge_lo, previous.knowledge_lo]),
        knowledge_hi=np.concatenate([model.knowledge_hi, previous.knowledge_hi]),
        # the change of a grand total is published by both releases: the others are not
        unpublished=np.concatenate([model.unpublished, previous.unpublished, ~model.grand_total[mine]]),
        margin=np.concatenate([model.margin, previous.margin, model.margin[mine]]),
        column=np.concatenate([model.column, previous.column, model.column[mine]]),
        group_margin=np.concatenate([model.group_margin, shifted(previous.group_margin, len(model.groups))]),
    )


def among(keys: np.ndarray, chosen: set[str] | frozenset[str] | list[str]) -> np.ndarray:
    """Which cell keys are in `chosen`, by hashing (np.isin compares object arrays pairwise: minutes here)."""
    return pd.Series(keys, dtype=object).isin(set(chosen)).to_numpy()


def _terms(frame: pd.DataFrame, members: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """Which inner cells (with which coefficient) make up each row's figure: `row`, `var`, `coef`, ..."""
    rows = frame[on].assign(row=np.arange(len(frame)))
    return rows.merge(members, on=on, how="inner")


def _with_total(members: pd.DataFrame, on: list[str]) -> pd.DataFrame:
    """The inner cells once under their own organisation type and once under the margin 'insgesamt'."""
    return pd.concat([members, members.assign(org_type=TOTAL)], ignore_index=True)


def _field_members(scale: pd.DataFrame, fields: pd.DataFrame) -> pd.DataFrame:
    """The scale answer counts of every Handlungsfeld (all its items) and theme (its items), by org type."""
    by_field = scale.assign(level="handlungsfeld", theme_code=None)
    by_theme = scale[scale["theme_code"].notna()].assign(level="thema")
    out = pd.concat([by_field, by_theme], ignore_index=True)
    out["theme_code"] = out["theme_code"].astype(object)
    return out


def _multi_items(results: pd.DataFrame) -> set[str]:
    return set(results.loc[results["item_type"].eq("multi"), "item_code"])


def is_scale(frame: pd.DataFrame) -> np.ndarray:
    if "item_type" in frame:
        return frame["item_type"].eq("scale").to_numpy()
    return np.ones(len(frame), bool)


def _stack(frame: pd.DataFrame, a: str, ca: float, b: str, cb: float) -> pd.DataFrame:
    """Two terms per row of `frame` (rows a·x_a + b·x_b), first all the a terms, then all the b terms."""
    return pd.concat(
        [
            pd.DataFrame({"var": frame[a].to_numpy(), "coef": ca}),
            pd.DataFrame({"var": frame[b].to_numpy(), "coef": cb}),
        ],
        ignore_index=True,
    )


def _as_many_as_their_field(results: pd.DataFrame, fields: pd.DataFrame) -> np.ndarray:
    """Per row of item_results: whether its n_answered equals its Handlungsfeld's or theme's n_respondents.

    No item has more respondents than its field (`_knowledge`), so an attacker reads such an n_answered off the
    field's figure: for the margin, a grand total, it is as good as published, and hiding it protects nothing.
    Any other n_answered "insgesamt" may be spent, beside its n_valid, to protect those who answered outside
    the scale (the steering group reads the mean, which needs n_valid)."""
    rows = results[["wave", "org_type", "field_code", "theme_code", "n_answered"]].reset_index(drop=True)
    equal = np.zeros(len(rows), bool)
    for level, on in (
        ("handlungsfeld", ["wave", "org_type", "field_code"]),
        ("thema", ["wave", "org_type", "field_code", "theme_code"]),
    ):
        sizes = fields.loc[fields["level"].eq(level), [*on, "n_respondents"]]
        joined = rows.merge(sizes, on=on, how="left")
        equal |= (joined["n_answered"] == joined["n_respondents"]).fillna(False).to_numpy(bool)
    return equal


def _wave_org(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows' wave, organisation type and Handlungsfeld (the item of one without)."""
    field = frame["field_code"].astype(object)
    if "item_code" in frame:
        field = field.where(field.notna(), frame["item_code"].astype(object))
    return pd.DataFrame({"wave": frame["wave"], "org_type": frame["org_type"], "field": field.astype(str)})


def _turns(wave_org: pd.DataFrame) -> np.ndarray:
    """A number in [0, 1) per figure of a real organisation type, the same for all its figures of one wave and
    Handlungsfeld, drawn from their names (stable from release to release); 0 for the margin."""
    group = wave_org["wave"].astype(str) + "|" + wave_org["org_type"].astype(str) + "|" + wave_org["field"]
    names, codes = np.unique(group.to_numpy(dtype=str), return_inverse=True)
    drawn = np.array([zlib.crc32(name.encode()) / 2**32 for name in names])
    return np.where(wave_org["org_type"].eq(TOTAL).to_numpy(), 0.0, drawn[codes])


def _field_code(frame: pd.DataFrame) -> pd.Series:
    theme = frame["theme_code"].astype(object)
    code = frame["field_code"].astype(str)
    return code.where(theme.isna(), code + "." + theme.astype(str))


def cell_keys(table: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    wave, org = frame["wave"].astype(str), frame["org_type"].astype(str)
    if table == "item_distribution":
        keys = table + "|" + wave + "|" + org + "|" + frame["item_code"].astype(str) + "|n|"
        keys = keys + frame["answer_code"].astype(str)
    elif table == "item_results":
        keys = table + "|" + wave + "|" + org + "|" + frame["item_code"].astype(str) + "|" + column
    elif table == "field_results":
        keys = table + "|" + wave + "|" + org + "|" + _field_code(frame) + "|" + column
    else:
        keys = table + "|" + wave + "|" + org + "|" + frame["field_code"].astype(str) + "|" + column
    return keys.to_numpy(dtype=object)


def value_columns(table: str) -> list[str]:
    return {
        "item_distribution": ["n"],
        "item_results": ["n_answered", "n_valid", "mean", "top2_share", "mean_change", "top2_change"],
        "field_results": ["n_respondents", "n_valid", "mean", "top2_share", "mean_change", "top2_change"],
        "free_text_counts": ["n_texts"],
    }[table]


def with_status(table: pd.DataFrame, column: str, status: np.ndarray) -> None:
    """Set a value column as published: its value where `status` says published, NULL otherwise, and beside it
    `<column>_status`."""
    values = table[column].astype("Int64" if column in _COUNTS else "Float64")
    table[column] = values.mask(status != PUBLISHED)
    table[f"{column}_status"] = pd.Series(status, index=table.index, dtype=object).astype(str)


def change_status(frame: pd.DataFrame, mean_status: np.ndarray, key: list[str], change: str) -> np.ndarray:
    """A change is shown where this and the previous wave's mean are; "x" where either is not applicable."""
    this = frame[["wave", "previous_wave", *key]].assign(status=mean_status, row=np.arange(len(frame)))
    before = this[["wave", *key, "status"]].rename(columns={"wave": "previous_wave", "status": "before"})
    joined = this.merge(before, on=["previous_wave", *key], how="left").sort_values("row")
    now, then = joined["status"].to_numpy(object), joined["before"].to_numpy(object)
    out = np.full(len(frame), HIDDEN, dtype=object)
    out[(now == PUBLISHED) & (then == PUBLISHED)] = PUBLISHED
    out[(now == NOT_APPLICABLE) | (then == NOT_APPLICABLE)] = NOT_APPLICABLE
    # no previous wave (the first, or an item new in this instrument version), or no row in it for this
    # organisation type: nothing to compare with; a change without its previous row in this release is hidden
    missing = pd.isna(joined["before"]).to_numpy()
    out[frame["previous_wave"].isna().to_numpy()] = NOT_APPLICABLE
    out[missing & frame[change].isna().to_numpy()] = NOT_APPLICABLE
    return out


def published_frame(name: str, frame: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """The mart's published columns (labels of the distribution taken from item_results)."""
    if name == "item_distribution":
        labels = [c for c in ("wave_label", "org_type_label", "field_label", "item_label") if c not in frame]
        if labels:
            frame = frame.merge(results[_ITEM_KEY + labels].drop_duplicates(_ITEM_KEY), on=_ITEM_KEY, how="left")
    return frame[_COLUMNS[name]].copy()


def _check(model: LinearModel, expected: np.ndarray) -> None:
    """The model must give back every figure of the marts, or what the audit proves is about something else."""
    off = np.flatnonzero(np.abs(model.figure_values - expected) > 1e-6 * np.maximum(1.0, np.abs(expected)))
    if off.size:
        shown = ", ".join(f"{model.keys[i]} = {expected[i]:g} (sum {model.figure_values[i]:g})" for i in off[:5])
        raise ValueError(f"the marts do not add up, {off.size} figures differ from their inner cells: {shown}")
