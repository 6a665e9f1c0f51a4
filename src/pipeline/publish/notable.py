"""When the report marks a change of a mean as notable (▲ ▼): at least NOTABLE_CHANGE scale points, and under
the cell key method also at least Z times the standard deviation the noise puts into the change, so that no
arrow marks what the perturbation alone may have made. The tables carry no sampling spread, so nothing here is
a significance test; the threshold is a convention, the noise term is the method's own and known exactly."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.publish.wording import NOTABLE_CHANGE, perturbed
from pipeline.vocabulary import PUBLISHED, TOTAL

Z = 2.0
SCALE_VALUES = np.arange(1.0, 6.0)
_KEYS = {"item_results": ["item_code"], "field_results": ["level", "field_code", "theme_code"]}


def meaning(meta: Mapping) -> str:
    """The legend's words for the arrows."""
    threshold = f"{NOTABLE_CHANGE:.1f}".replace(".", ",")
    noise = (
        ", und mindestens doppelt so groß wie die Streuung, die die Überlagerung des Cell-Key-Verfahrens in sie bringt"
        if perturbed(meta)
        else ""
    )
    return (
        f"deutliche Veränderung des Mittelwerts, um mindestens {threshold} Skalenpunkte{noise} (eine Setzung, "
        "keine Signifikanzprüfung: die Tabellen enthalten keine Streuung der Befragung)"
    )


def noise_sd(mean: np.ndarray, n_valid: np.ndarray, items: np.ndarray, variance: float) -> np.ndarray:
    """The standard deviation the cell key noise puts into a mean of n_valid scale answers over `items` items:
    each of an item's five answer counts carries its own noise d of `variance`, which moves the mean by
    (v - mean) * d / n_valid."""
    spread = ((SCALE_VALUES[None, :] - np.asarray(mean, float)[:, None]) ** 2).sum(axis=1)
    return np.sqrt(variance * np.asarray(items, float) * spread) / np.asarray(n_valid, float)


def marked(tables: Mapping[str, pd.DataFrame], meta: Mapping) -> dict[str, pd.DataFrame]:
    """item_results and field_results with a boolean column `notable` beside the change of the mean."""
    variance = float(meta["disclosure"]["variance"]) if perturbed(meta) else None
    order = [w["wave"] for w in meta["waves"]]
    previous = dict(zip(order[1:], order[:-1], strict=True))
    items = _scale_items(tables["item_results"])
    out = dict(tables)
    for name, key in _KEYS.items():
        frame = tables[name]
        change = _floats(frame["mean_change"])
        shown = frame["mean_change_status"].fillna(PUBLISHED).eq(PUBLISHED).to_numpy() & ~np.isnan(change)
        notable = shown & (np.abs(np.nan_to_num(change)) >= NOTABLE_CHANGE)
        if variance is not None:
            notable &= np.abs(np.nan_to_num(change)) >= Z * _change_sd(frame, key, previous, items, variance)
        out[name] = frame.assign(notable=notable)
    return out


def _scale_items(results: pd.DataFrame) -> pd.DataFrame:
    """Scale items per wave, Handlungsfeld and theme (a theme's and its Handlungsfeld's rows)."""
    scale = results[(results["org_type"] == TOTAL) & (results["item_type"] == "scale")]
    fields = scale.groupby(["wave", "field_code"]).size().rename("items").reset_index()
    themes = scale.dropna(subset=["theme_code"]).groupby(["wave", "field_code", "theme_code"]).size()
    return pd.concat(
        [
            fields.assign(level="handlungsfeld", theme_code=None),
            themes.rename("items").reset_index().assign(level="thema"),
        ],
        ignore_index=True,
    )


def _change_sd(
    frame: pd.DataFrame, key: list[str], previous: dict[str, str], items: pd.DataFrame, variance: float
) -> np.ndarray:
    """The noise's standard deviation in each row's change: this wave's mean's and the previous wave's, added
    in variance (their noises are independent: other respondents, other cell keys); NaN where unknown."""
    rows = frame[["wave", "org_type", *key, "mean", "n_valid"]].copy()
    if "level" in key:
        rows = rows.merge(items, how="left", on=["wave", "level", "field_code", "theme_code"])
    else:
        rows["items"] = 1
    rows["sd"] = noise_sd(_floats(rows["mean"]), _floats(rows["n_valid"]), _floats(rows["items"]), variance)
    before = rows[["wave", "org_type", *key, "sd"]].rename(columns={"wave": "previous", "sd": "sd_before"})
    now = rows.assign(previous=rows["wave"].map(previous))
    joined = now.merge(before, how="left", on=["previous", "org_type", *key])
    return np.sqrt(_floats(joined["sd"]) ** 2 + _floats(joined["sd_before"]) ** 2)


def _floats(values: pd.Series) -> np.ndarray:
    return values.astype("Float64").to_numpy(float, na_value=np.nan)
