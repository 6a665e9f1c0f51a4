"""Table design before suppression: organisation types too small to be published alone are published together.

A type with fewer than k respondents in a wave has its figures hidden, and since "insgesamt" minus the other
types gives them back, a second type's figures have to be hidden with them, item by item and Handlungsfeld by
Handlungsfeld (docs/decisions/disclosure.md: at most 83 % of the demo's item means). Statistical offices design
the table first: such types are published as one category, "Weitere Organisationen", joined by the smallest
other types until it has k respondents, and the suppression then only deals with what is left small.

A wave's grouping is decided when a release first publishes the wave, and every later release keeps it. Two
releases that grouped a wave differently would, side by side, give a type's figures that one published alone
and the other within the group; the joint audit links two releases only through figures of the same key
(`cube.with_previous`), so it would not see that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.vocabulary import MERGED, MERGED_LABEL, TOTAL

# wave -> the organisation types published together as MERGED (an empty list: none)
Grouping = dict[str, list[str]]

_CELL_KEY_MODULUS = 1 << 20
_SUMS = {
    "item_distribution": ["n"],
    "item_results": ["n_answered", "n_valid", "value_sum", "n_top2"],
    "field_results": ["n_respondents", "n_valid", "value_sum", "n_top2"],
    "free_text_counts": ["n_texts"],
}
_CELL_KEYS = ["n_cell_key", "n_answered_cell_key", "n_respondents_cell_key", "n_texts_cell_key"]
_DERIVED = ["mean", "top2_share", "mean_change", "top2_change"]
_FIGURE_KEY = {"item_results": ["item_code"], "field_results": ["level", "field_code", "theme_code"]}


def respondents(marts: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Respondents per wave and organisation type (without the margin): the most any of its figures counts."""
    results, fields = marts["item_results"], marts["field_results"]
    sizes = pd.concat(
        [
            results[["wave", "org_type"]].assign(n=results["n_answered"]),
            fields[["wave", "org_type"]].assign(n=fields["n_respondents"]),
        ]
    )
    sizes = sizes[sizes["org_type"] != TOTAL]
    return sizes.groupby(["wave", "org_type"])["n"].max()


def decide(marts: Mapping[str, pd.DataFrame], k: int, kept: Mapping[str, list[str]]) -> Grouping:
    """Per wave: the types below k respondents, with the previous wave's group (so that its change can be
    shown) and then the smallest others (by size, then name) until the group has k; a wave in `kept` (the
    previous release's grouping) keeps its grouping."""
    results = marts["item_results"]
    before = results.dropna(subset=["previous_wave"]).drop_duplicates("wave")
    previous_of = dict(zip(before["wave"].astype(str), before["previous_wave"].astype(str), strict=True))
    grouping: Grouping = {}
    for wave, sizes in sorted(respondents(marts).groupby(level="wave"), key=lambda pair: str(pair[0])):
        wave = str(wave)
        if wave in kept:
            grouping[wave] = sorted(kept[wave])
            continue
        by_size = sizes.droplevel("wave").reset_index().sort_values(["n", "org_type"])
        small = by_size["n"] < k
        if not small.any():
            grouping[wave] = []
            continue
        last = set(grouping.get(previous_of.get(wave, ""), []))
        first = small | by_size["org_type"].isin(last)
        members, total = list(by_size.loc[first, "org_type"]), int(by_size.loc[first, "n"].sum())
        for org_type, n in zip(by_size.loc[~first, "org_type"], by_size.loc[~first, "n"], strict=True):
            if total >= k:
                break
            members.append(org_type)
            total += int(n)
        grouping[wave] = sorted(map(str, members)) if len(members) > 1 else []
    return grouping


def kept_grouping(manifest: Mapping[str, Any] | None) -> Grouping:
    """The grouping a release used for each wave it published (a release made before grouping: none)."""
    if manifest is None:
        return {}
    recorded = manifest.get("grouping", {})
    return {str(w["wave"]): list(recorded.get(str(w["wave"]), [])) for w in manifest.get("waves", [])}


def apply(marts: Mapping[str, pd.DataFrame], grouping: Mapping[str, list[str]]) -> dict[str, pd.DataFrame]:
    """The marts with each wave's grouped types replaced by one MERGED row per figure: counts, sums and cell
    keys added up, means and shares computed again, changes only against the same group of the previous wave."""
    members = pd.MultiIndex.from_tuples(
        [(wave, org_type) for wave, types in grouping.items() for org_type in types], names=["wave", "org_type"]
    )
    if members.empty:
        return dict(marts)
    out = {name: _merged(name, frame, members) for name, frame in marts.items()}
    for name, key in _FIGURE_KEY.items():
        out[name] = _changes(out[name], key, members, grouping)
    return out


def labels(marts: Mapping[str, pd.DataFrame], grouping: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Per wave with a group: the labels of its types, for the method notes."""
    results = marts["item_results"].drop_duplicates(["wave", "org_type"])
    named = results.set_index([results["wave"].astype(str), "org_type"])["org_type_label"]
    return {wave: sorted(named.get((wave, t), t) for t in types) for wave, types in grouping.items() if types}


def _in(frame: pd.DataFrame, members: pd.MultiIndex) -> np.ndarray:
    return pd.MultiIndex.from_arrays([frame["wave"].astype(str), frame["org_type"]]).isin(members)


def _merged(name: str, frame: pd.DataFrame, members: pd.MultiIndex) -> pd.DataFrame:
    inside = _in(frame, members)
    if not inside.any():
        return frame
    rows = frame[inside].assign(org_type=MERGED)
    if "org_type_label" in rows:
        rows["org_type_label"] = MERGED_LABEL
    sums = [c for c in [*_SUMS[name], *_CELL_KEYS] if c in frame]
    keys = [c for c in frame.columns if c not in sums and c not in _DERIVED]
    merged = rows.groupby(keys, dropna=False, sort=False)[sums].sum().reset_index()
    for column in keys:  # grouping made missing text NaN; the marts hold None
        if frame[column].dtype == object:
            merged[column] = merged[column].astype(object).where(merged[column].notna(), None)
    for column in sums:
        if column in _CELL_KEYS:
            merged[column] = (merged[column] % _CELL_KEY_MODULUS).astype(frame[column].dtype)
        else:
            merged[column] = merged[column].astype(frame[column].dtype)
    if "value_sum" in merged:
        valid = merged["n_valid"].where(merged["n_valid"] > 0)
        merged["mean"] = merged["value_sum"] / valid
        merged["top2_share"] = merged["n_top2"] / valid
    together = pd.concat([frame[~inside], merged[[c for c in frame.columns if c in merged]]], ignore_index=True)
    # the marts' order: by wave, the margin last
    order = together.assign(_total=together["org_type"].eq(TOTAL)).sort_values(["wave", "_total"], kind="stable")
    return together.loc[order.index].reset_index(drop=True)


def _changes(
    frame: pd.DataFrame, key: list[str], members: pd.MultiIndex, grouping: Mapping[str, list[str]]
) -> pd.DataFrame:
    """Changes of the MERGED rows against the previous wave's MERGED row of the same types (else none, and no
    previous wave to compare with), and none for a type whose previous wave's row went into a group."""
    frame = frame.copy()
    merged = frame["org_type"].eq(MERGED).to_numpy()
    before_grouped = pd.MultiIndex.from_arrays([frame["previous_wave"].astype(str), frame["org_type"]]).isin(members)
    named = {wave: "+".join(types) for wave, types in grouping.items()}
    same_group = (frame["wave"].astype(str).map(named) == frame["previous_wave"].astype(str).map(named)).to_numpy(bool)
    previous = frame[["wave", "org_type", *key, "mean", "top2_share"]].rename(
        columns={"wave": "previous_wave", "mean": "_mean", "top2_share": "_top2"}
    )
    on = ["previous_wave", "org_type", *key]
    joined = frame[on].merge(previous, how="left", on=on)
    compared = merged & same_group & frame["previous_wave"].notna().to_numpy()
    frame.loc[merged, "mean_change"] = np.where(compared, frame["mean"] - joined["_mean"].to_numpy(), np.nan)[merged]
    frame.loc[merged, "top2_change"] = np.where(compared, frame["top2_share"] - joined["_top2"].to_numpy(), np.nan)[
        merged
    ]
    frame.loc[merged & ~compared, "previous_wave"] = None
    frame.loc[before_grouped & ~merged, ["mean_change", "top2_change"]] = np.nan
    return frame
