"""The cell key method: every count published with small, consistent noise, no hidden cells.

The perturbation Destatis used for the Zensus 2022 and the ONS for the Census 2021, in its plain form. Each
respondent has a record key, uniform in [0, 2^20) (the marts derive it from the pseudonymous respondent key);
a count's cell key is the sum of its respondents' record keys modulo 2^20, so the same respondents give the
same cell key in every table and every release. The perturbation table maps a count n and its cell key to
the published count:

- 0 stays 0 (an empty cell has no respondent to protect, and a structural zero stays one);
- 1 to k-1 become k with probability n/k and 0 otherwise: no count below k is ever published, and a
  published 0 or k does not tell a small count from none or from k;
- from k on, n + d with d in [-D, D]: P(d) = P(-d) = V / (2 * (1² + ... + D²)) for d != 0, the rest on 0,
  truncated symmetrically to |d| <= n - k where that is smaller than D (a count of k or more never becomes
  one below k).

Every row is unbiased (its expected value is n); from k + D on, the deviation is at most D and its variance
V. Means, top-2 shares and n_valid are computed from the perturbed answer counts, so every published figure
is a function of published counts: nothing is exact that the counts do not give, and a table adds up within
itself (the distribution sums to n_answered). Margins do not add up exactly ("insgesamt" has its own noise),
which is the price of the method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.disclosure import cube
from pipeline.disclosure.audit import Audit
from pipeline.disclosure.suppression import primary_cells
from pipeline.settings import largest_cell_key_variance
from pipeline.vocabulary import MARTS, NOT_APPLICABLE, PUBLISHED

KEY_RANGE = 1 << 20  # record and cell keys are integers below this (sql/marts: "modulo 2^20")
# the counts each table publishes, with the mart column of their cell key
PERTURBED = {
    "item_distribution": ("n", "n_cell_key"),
    "item_results": ("n_answered", "n_answered_cell_key"),
    "field_results": ("n_respondents", "n_respondents_cell_key"),
    "free_text_counts": ("n_texts", "n_texts_cell_key"),
}
_COUNTS = {"item_distribution": ["n"], "item_results": ["n_answered", "n_valid"],
           "field_results": ["n_respondents", "n_valid"], "free_text_counts": ["n_texts"]}  # fmt: skip
_ITEM = ["wave", "org_type", "item_code"]
_FIELD = ["wave", "org_type", "level", "field_code", "theme_code"]


@dataclass(frozen=True)
class PTable:
    """The perturbation table of threshold k, maximum deviation D and variance V (see the module docstring)."""

    k: int
    max_deviation: int
    variance: float

    def __post_init__(self) -> None:
        if self.variance > largest_cell_key_variance(self.max_deviation):
            raise ValueError(
                f"cell key method: a variance of {self.variance} is more than a maximum deviation of "
                f"{self.max_deviation} allows (at most {largest_cell_key_variance(self.max_deviation):g})"
            )

    def noise(self, reach: int) -> tuple[np.ndarray, np.ndarray]:
        """The deviations -reach..reach and their probabilities (the base row, truncated to |d| <= reach)."""
        # P(d) for each d != 0: the variance V spread over 2 * (1² + ... + D²)
        step = self.variance / (2 * self.max_deviation * largest_cell_key_variance(self.max_deviation))
        deviations = np.arange(-reach, reach + 1)
        weights = np.where(deviations == 0, 1 - 2 * self.max_deviation * step, step)
        return deviations, weights / weights.sum()

    def perturb(self, n: np.ndarray, cell_key: np.ndarray) -> np.ndarray:
        """The published counts of true counts `n` with cell keys in [0, 1), vectorised."""
        n = np.asarray(n, dtype=np.int64)
        u = np.asarray(cell_key, dtype=float)
        out = n.copy()
        small = (n > 0) & (n < self.k)
        out[small] = np.where(u[small] < n[small] / self.k, self.k, 0)
        reach = np.minimum(n - self.k, self.max_deviation)
        for r in range(1, self.max_deviation + 1):
            rows = reach == r
            deviations, p = self.noise(r)
            out[rows] = n[rows] + deviations[np.searchsorted(np.cumsum(p)[:-1], u[rows], side="right")]
        return out


@dataclass(frozen=True)
class Perturbed:
    """A release protected by the cell key method: the published tables, their audit and what it cost."""

    tables: dict[str, pd.DataFrame]
    audit: Audit
    information_loss: dict[str, Any]
    # the groups no noise protects (see `protect`); the previous release's hidden cells do not apply
    hidden_cells: set[str]


def protect(
    marts: dict[str, pd.DataFrame], k: int, max_deviation: int, variance: float, group_rule: bool = True
) -> Perturbed:
    """The published tables of the marts, every count perturbed (see the module docstring), and the audit of
    the method's promise; the caller refuses the release if the audit did not pass.

    What no noise protects is hidden as under suppression (`suppression.primary_cells` without its rule on
    single small counts): a group of fewer than k respondents whole, zeros included, since a count stays 0
    and a small group's zeros would tell what its few respondents chose or skipped; with the group rule, a
    special-category group whose answers all fall into one code. Nothing else is hidden: what "insgesamt"
    minus the other types gives of a hidden group carries the noise of every term."""
    started = time.perf_counter()
    table = PTable(k, max_deviation, variance)
    model_cube = cube.build(marts)
    primary, _ = primary_cells(model_cube.model, k, group_rule, small_counts=False)
    tables, hidden = model_cube.tables(primary)
    frames = model_cube.frames
    noisy = {name: frame.copy() for name, frame in frames.items()}
    for name, (column, key) in PERTURBED.items():
        noisy[name][column] = table.perturb(frames[name][column], frames[name][key] / KEY_RANGE)
    _derive(noisy)
    _publish_noisy(tables, noisy)
    failures = _audit(frames, tables, k)
    cells = sum(
        int((t[f"{c}_status"] != NOT_APPLICABLE).sum()) for name, t in tables.items() for c in cube.value_columns(name)
    )
    shown = ~model_cube.model.unpublished
    audit = Audit(
        passed=not failures, cells=cells, primary=int((primary & shown).sum()), secondary=0, narrowest=None,
        failures=failures, blocks=0, seconds=time.perf_counter() - started,
    )  # fmt: skip
    loss = cube.information_loss(frames, tables, hidden, k)
    loss["perturbation"] = _deviations(frames, tables, k)
    return Perturbed(tables, audit, loss, hidden)


def _derive(noisy: dict[str, pd.DataFrame]) -> None:
    """n_answered of single-answer items, n_valid, the sums, means and shares, and their changes since the
    previous wave, from the perturbed answer counts (in place)."""
    dist, results, fields = noisy["item_distribution"], noisy["item_results"], noisy["field_results"]
    value = dist["answer_value"].astype(float)
    valid = value.notna()
    terms = dist[_ITEM + ["field_code", "theme_code"]].assign(
        n_answered=dist["n"], n_valid=dist["n"].where(valid, 0), value_sum=(value * dist["n"]).fillna(0.0),
        n_top2=dist["n"].where(value >= 4, 0),
    )  # fmt: skip
    sums = ["n_valid", "value_sum", "n_top2"]
    per_item = terms.groupby(_ITEM, sort=False)[["n_answered", *sums]].sum()
    at = pd.MultiIndex.from_frame(results[_ITEM])
    single = ~results["item_type"].eq("multi").to_numpy()
    results.loc[single, "n_answered"] = per_item["n_answered"].reindex(at).fillna(0).to_numpy()[single]
    for column in sums:
        results[column] = per_item[column].reindex(at).fillna(0).to_numpy()
    # a Handlungsfeld's row has no theme ("" here, to match keys)
    in_field = terms[valid.to_numpy() & terms["field_code"].notna().to_numpy()]
    by_field = in_field.assign(level="handlungsfeld", theme_code="")
    by_theme = in_field[in_field["theme_code"].notna()].assign(level="thema")
    per_field = pd.concat([by_field, by_theme]).groupby(_FIELD, sort=False)[sums].sum()
    at = pd.MultiIndex.from_frame(fields[_FIELD].fillna({"theme_code": ""}))
    for column in sums:
        fields[column] = per_field[column].reindex(at).fillna(0).to_numpy()
    for frame, key in (
        (results, ["org_type", "item_code"]),
        (fields, ["org_type", "level", "field_code", "theme_code"]),
    ):
        n_valid = frame["n_valid"].where(frame["n_valid"] > 0)
        frame["mean"] = frame["value_sum"] / n_valid
        frame["top2_share"] = frame["n_top2"] / n_valid
        before = frame[["wave", *key, "mean", "top2_share"]].rename(
            columns={"wave": "previous_wave", "mean": "mean_before", "top2_share": "top2_before"}
        )
        joined = frame[["previous_wave", *key]].merge(before, on=["previous_wave", *key], how="left")
        frame["mean_change"] = frame["mean"].to_numpy() - joined["mean_before"].to_numpy()
        frame["top2_change"] = frame["top2_share"].to_numpy() - joined["top2_before"].to_numpy()


def _publish_noisy(tables: dict[str, pd.DataFrame], noisy: dict[str, pd.DataFrame]) -> None:
    """The perturbed values in place of the true ones in every published cell (in place). A mean, share or
    change that the perturbed counts leave without a valid answer does not apply ("x")."""
    for name, table in tables.items():
        for column in cube.value_columns(name):
            status = table[f"{column}_status"].to_numpy(dtype=object).copy()
            values = noisy[name][column]
            status[(status == PUBLISHED) & values.isna().to_numpy()] = NOT_APPLICABLE
            table[column] = values
            cube.with_status(table, column, status)


def _audit(frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame], k: int) -> list[str]:
    """What the method promises, checked on the published tables: no count from 1 to k-1 is published, and
    no count from 1 to k-1 is published as it is."""
    failures = []
    for name, columns in _COUNTS.items():
        for column in columns:
            shown = tables[name][column].to_numpy(dtype=float, na_value=np.nan)
            true = frames[name][column].to_numpy(dtype=float)
            small = (shown > 0) & (shown < k)
            exact = (true > 0) & (true < k) & (shown == true)
            for i in np.flatnonzero(small | exact)[:20]:
                failures.append(
                    f"{cube.cell_keys(name, frames[name].iloc[[i]], column)[0]}: published {shown[i]:g} "
                    f"({'below k' if small[i] else 'a small count published as it is'})"
                )
    return failures


def _deviations(frames: dict[str, pd.DataFrame], tables: dict[str, pd.DataFrame], k: int) -> dict[str, Any]:
    """How far the published counts and means are from the true ones, per table and column (for the manifest:
    the method's cost, as the information-loss report states it for suppression); means and shares over the
    groups of the key figures (at least k valid answers), where the steering group reads them."""
    out: dict[str, Any] = {}
    for name in MARTS:
        for column in cube.value_columns(name):
            if column.endswith("_change"):
                continue
            shown = tables[name][column].to_numpy(dtype=float, na_value=np.nan)
            true = frames[name][column].to_numpy(dtype=float)
            both = ~np.isnan(shown) & ~np.isnan(true)
            if column in ("mean", "top2_share"):
                both &= frames[name]["n_valid"].to_numpy() >= k
            gap = np.abs(shown[both] - true[both])
            out[f"{name}.{column}"] = {
                "cells": int(both.sum()),
                "changed": int((gap > 1e-9).sum()),
                "mean_absolute_deviation": round(float(gap.mean()), 4) if gap.size else 0.0,
                "max_absolute_deviation": round(float(gap.max()), 4) if gap.size else 0.0,
            }
    return out
