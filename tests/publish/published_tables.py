"""A small hand-made release (the published tables of /tmp/spec8.md) for the workbook and report tests.

Two waves, three organisation types plus "insgesamt", three Handlungsfelder (HF3 with two themes), an item new
in the second wave, a yes/no item, a special-category item without field. Answers are drawn with a fixed seed;
the organisation type "ehrenamt" is small, so its counts are hidden, and in 2026 it has fewer than k
respondents, so its groups are hidden whole. The suppression follows the simple rules in `_hide_*` below, not
the disclosure engine: these tables exercise how artefacts show "." and "x", while the disclosure tests prove
patterns safe. `Release.truth` keeps every table before suppression, so a test can name the values that must
never appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

K = 5
WAVES = [("2025", "Welle 2025"), ("2026", "Welle 2026")]
ORGS = [("verwaltung", "Stadtverwaltung"), ("wohlfahrt", "Wohlfahrtsverband"), ("ehrenamt", "Ehrenamtliche Initiative")]
TOTAL = ("insgesamt", "Insgesamt")
RESPONDENTS = {
    ("2025", "verwaltung"): 120,
    ("2025", "wohlfahrt"): 30,
    ("2025", "ehrenamt"): 7,
    ("2026", "verwaltung"): 135,
    ("2026", "wohlfahrt"): 34,
    ("2026", "ehrenamt"): 3,
}
FIELDS = {
    "HF1": (1, "Management und Steuerung"),
    "HF3": (3, "Fairer Zugang und Teilhabechancen"),
    "HF5": (5, "Engagement und Beteiligung"),
}
THEMES = {"BIL": "Bildung", "SPR": "Sprache"}
SCALES = {
    "zustimmung5": [
        ("1", "trifft überhaupt nicht zu", 1),
        ("2", "trifft eher nicht zu", 2),
        ("3", "teils, teils", 3),
        ("4", "trifft eher zu", 4),
        ("5", "trifft voll und ganz zu", 5),
        ("wn", "weiß nicht", None),
        ("ka", "keine Angabe", None),
    ],
    "umsetzung5": [
        ("1", "nicht geplant", 1),
        ("2", "geplant", 2),
        ("3", "begonnen", 3),
        ("4", "weitgehend umgesetzt", 4),
        ("5", "vollständig umgesetzt", 5),
        ("wn", "weiß nicht", None),
        ("ka", "keine Angabe", None),
    ],
    "janein": [("ja", "ja", None), ("nein", "nein", None), ("ka", "keine Angabe", None)],
}


@dataclass(frozen=True)
class Item:
    code: str
    field: str | None
    theme: str | None
    scale: str
    label: str
    waves: tuple[str, ...] = ("2025", "2026")
    # answer weights, weakest first: where the item sits on the scale
    weights: tuple[float, ...] = (2, 3, 4, 4, 3, 1, 0.5)

    @property
    def item_type(self) -> str:
        return "yesno" if self.scale == "janein" else "scale"


ITEMS = [
    Item("HF1_01", "HF1", None, "zustimmung5", "Vielfalt und Chancengleichheit sind im Leitbild verankert."),
    Item(
        "HF1_02",
        "HF1",
        None,
        "umsetzung5",
        "Es gibt eine benannte Ansprechperson mit festem Zeitkontingent.",
        weights=(5, 4, 3, 2, 1.5, 1, 0.5),
    ),
    Item("HF1_05", "HF1", None, "janein", "Gibt es einen schriftlichen Maßnahmenplan?", weights=(3, 4, 1)),
    Item("HF3_BIL_01", "HF3", "BIL", "zustimmung5", "Bildungsangebote erreichen Familien mit Migrationsgeschichte."),
    Item(
        "HF3_SPR_01",
        "HF3",
        "SPR",
        "zustimmung5",
        "Unsere Formulare liegen auch in einfacher Sprache vor.",
        weights=(6, 5, 3, 2, 1, 1, 0.5),
    ),
    Item("HF5_01", "HF5", None, "zustimmung5", "Wir beteiligen Migrantenorganisationen an der Planung von Angeboten."),
    Item(
        "HF5_02",
        "HF5",
        None,
        "umsetzung5",
        "Ehrenamtliche werden für ihren Einsatz geschult.",
        waves=("2026",),
        weights=(1.5, 2, 3, 5, 5, 1, 0.5),
    ),
    Item("ZP_01", None, None, "janein", "Haben Sie selbst eine Migrationsgeschichte?", weights=(2, 5, 2)),
]


@dataclass(frozen=True)
class Release:
    tables: dict[str, pd.DataFrame]
    meta: dict
    truth: dict[str, pd.DataFrame]


def release(seed: int = 8) -> Release:
    """The published tables, the release metadata and the tables before suppression."""
    rng = np.random.default_rng(seed)
    truth_dist = _distribution(rng)
    truth_items = _item_results(truth_dist)
    truth_fields = _field_results(truth_items)
    truth_texts = _free_text_counts(rng)
    dist, items = _hide_items(truth_dist, truth_items)
    fields = _hide_fields(truth_fields, items)
    texts = _hide_texts(truth_texts)
    tables = {
        "item_distribution": dist,
        "item_results": items,
        "field_results": fields,
        "free_text_counts": texts,
        "needs_ranking": _needs_ranking(items, fields),
    }
    truth = {
        "item_distribution": truth_dist,
        "item_results": truth_items,
        "field_results": truth_fields,
        "free_text_counts": truth_texts,
    }
    return Release(tables, _meta(tables), truth)


def _meta(tables: dict[str, pd.DataFrame]) -> dict:
    hidden = sum(int((t[c] == ".").sum()) for t in tables.values() for c in t.columns if c.endswith("_status"))
    return {
        "release_id": "2026-07-01-001",
        "published_at": "2026-07-01T02:15:00+02:00",
        "timezone": "Europe/Berlin",
        "disclosure_k": K,
        "waves": [{"wave": w, "wave_label": label} for w, label in WAVES],
        "instrument_versions": ["2025.1", "2026.1"],
        "partners": 6,
        "audit": {
            "passed": True,
            "cells": 612,
            "primary": hidden - 9,
            "secondary": 9,
            "narrowest": {"cell": "item_distribution|2025|ehrenamt|HF1_01|n|3", "value": 2, "lb": 0, "ub": 4},
        },
    }


def _org_rows() -> list[tuple[str, str]]:
    return [*ORGS, TOTAL]


def _wave_label(wave: str) -> str:
    return dict(WAVES)[wave]


def _field(item: Item) -> dict:
    number, label = FIELDS[item.field] if item.field else (None, None)
    return {"field_number": number, "field_code": item.field, "field_label": label}


def _distribution(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for wave, wave_label in WAVES:
        for item in (i for i in ITEMS if wave in i.waves):
            options = SCALES[item.scale]
            weights = np.array(item.weights) / sum(item.weights)
            totals = np.zeros(len(options), dtype=int)
            for org, org_label in ORGS:
                # about one in ten skips the item
                answering = rng.binomial(RESPONDENTS[(wave, org)], 0.9)
                counts = np.bincount(rng.choice(len(options), answering, p=weights), minlength=len(options))
                totals += counts
                rows += _distribution_rows(wave, wave_label, org, org_label, item, counts)
            rows += _distribution_rows(wave, wave_label, *TOTAL, item, totals)
    return pd.DataFrame(rows).astype({"n": "Int64", "answer_value": "Float64", "answer_ordinal": "Int64"})


def _distribution_rows(
    wave: str, wave_label: str, org: str, org_label: str, item: Item, counts: np.ndarray
) -> list[dict]:
    return [
        {
            "wave": wave,
            "wave_label": wave_label,
            "org_type": org,
            "org_type_label": org_label,
            "field_code": item.field,
            "field_label": FIELDS[item.field][1] if item.field else None,
            "theme_code": item.theme,
            "item_code": item.code,
            "item_label": item.label,
            "answer_code": code,
            "answer_label": label,
            "answer_ordinal": ordinal,
            "answer_value": value,
            "n": int(n),
            "n_status": "",
        }
        for ordinal, ((code, label, value), n) in enumerate(zip(SCALES[item.scale], counts, strict=True), start=1)
    ]


def _item_results(dist: pd.DataFrame) -> pd.DataFrame:
    rows = []
    by_code = {i.code: i for i in ITEMS}
    for (wave, org, code), group in dist.groupby(["wave", "org_type", "item_code"], sort=False):
        item = by_code[code]
        valid = group[group["answer_value"].notna()]
        n_valid = int(valid["n"].sum())
        scale = item.item_type == "scale" and n_valid > 0
        value_sum = float((valid["n"] * valid["answer_value"]).sum())
        n_top2 = int(valid.loc[valid["answer_value"] >= 4, "n"].sum())
        rows.append(
            {
                "wave": wave,
                "wave_label": _wave_label(wave),
                "org_type": org,
                "org_type_label": group["org_type_label"].iloc[0],
                **_field(item),
                "theme_code": item.theme,
                "theme_label": THEMES.get(item.theme or ""),
                "item_code": code,
                "item_label": item.label,
                "item_type": item.item_type,
                "n_answered": int(group["n"].sum()),
                "n_valid": n_valid if item.item_type == "scale" else None,
                "mean": value_sum / n_valid if scale else None,
                "top2_share": n_top2 / n_valid if scale else None,
            }
        )
    frame = pd.DataFrame(rows)
    frame = _with_changes(frame, ["org_type", "item_code"])
    for column in ["n_answered", "n_valid", *_MEASURES]:
        frame[f"{column}_status"] = np.where(frame[column].isna(), "x", "")
    return frame.astype(_DTYPES)


_MEASURES = ["mean", "top2_share", "mean_change", "top2_change"]
_DTYPES = {"field_number": "Int64", "n_answered": "Int64", "n_valid": "Int64", **dict.fromkeys(_MEASURES, "Float64")}


def _with_changes(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """This wave minus the previous wave, where the row exists in both (items new in 2026 have no change)."""
    previous = frame[frame["wave"] == WAVES[0][0]][[*keys, "mean", "top2_share"]]
    merged = frame.merge(previous, on=keys, how="left", suffixes=("", "_previous"))
    latest = merged["wave"] == WAVES[1][0]
    merged["mean_change"] = (merged["mean"] - merged["mean_previous"]).where(latest)
    merged["top2_change"] = (merged["top2_share"] - merged["top2_share_previous"]).where(latest)
    return merged.drop(columns=["mean_previous", "top2_share_previous"])


def _field_results(items: pd.DataFrame) -> pd.DataFrame:
    scale = items[items["item_type"] == "scale"].copy()
    scale["value_sum"] = scale["mean"] * scale["n_valid"]
    scale["n_top2"] = scale["top2_share"] * scale["n_valid"]
    frames = []
    for level, keys in (("handlungsfeld", ["field_code"]), ("thema", ["field_code", "theme_code"])):
        rows = items[items["field_code"].notna()] if level == "handlungsfeld" else items[items["theme_code"].notna()]
        group_keys = ["wave", "org_type", *keys]
        # hand-made: the field's respondents are at least the most answered item's
        respondents = rows.groupby(group_keys)["n_answered"].max().rename("n_respondents")
        sums = scale[scale[keys[-1]].notna()].groupby(group_keys)[["n_valid", "value_sum", "n_top2"]].sum()
        frame = pd.concat([respondents, sums], axis=1).reset_index()
        labels = rows.drop_duplicates(group_keys)[
            [*group_keys, "wave_label", "org_type_label", "field_number", "field_label", "theme_label"]
        ]
        frame = frame.merge(labels, on=group_keys)
        frame["level"] = level
        if level == "handlungsfeld":
            frame["theme_code"] = None
            frame["theme_label"] = None
        frame["mean"] = frame["value_sum"] / frame["n_valid"]
        frame["top2_share"] = frame["n_top2"] / frame["n_valid"]
        frames.append(frame.drop(columns=["value_sum", "n_top2"]))
    fields = _with_changes(pd.concat(frames, ignore_index=True), ["org_type", "level", "field_code", "theme_code"])
    for column in ["n_respondents", "n_valid", *_MEASURES]:
        fields[f"{column}_status"] = np.where(fields[column].isna(), "x", "")
    columns = [
        "wave",
        "wave_label",
        "org_type",
        "org_type_label",
        "level",
        "field_number",
        "field_code",
        "field_label",
        "theme_code",
        "theme_label",
        "n_respondents",
        "n_valid",
        *_MEASURES,
    ]
    ordered = columns + [f"{c}_status" for c in columns[10:]]
    return fields[ordered].astype(
        {"field_number": "Int64", "n_respondents": "Int64", "n_valid": "Int64", **dict.fromkeys(_MEASURES, "Float64")}
    )


def _free_text_counts(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for wave, wave_label in WAVES:
        for field, (_, field_label) in FIELDS.items():
            counts = {org: int(rng.integers(0, RESPONDENTS[(wave, org)] // 2 + 1)) for org, _ in ORGS}
            counts[TOTAL[0]] = sum(counts.values())
            for org, org_label in _org_rows():
                rows.append(
                    {
                        "wave": wave,
                        "wave_label": wave_label,
                        "org_type": org,
                        "org_type_label": org_label,
                        "field_code": field,
                        "field_label": field_label,
                        "n_texts": counts[org],
                        "n_texts_status": "",
                    }
                )
    return pd.DataFrame(rows).astype({"n_texts": "Int64"})


def _hide(frame: pd.DataFrame, mask: pd.Series, columns: list[str]) -> None:
    for column in columns:
        mask_here = mask & (frame[f"{column}_status"] != "x")
        frame.loc[mask_here, column] = pd.NA
        frame.loc[mask_here, f"{column}_status"] = "."


def _hide_items(truth_dist: pd.DataFrame, truth_items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Counts 0 < n < k hidden with a partner; groups under k (and a partner group) whole; means where a scale
    count is hidden (two hidden scale counts are two unknowns in two equations with n_valid and the mean)."""
    dist, items = truth_dist.copy(), truth_items.copy()
    group = ["wave", "org_type", "item_code"]
    small_group = items["n_answered"] < K
    # a lone hidden group per wave and item would come back as insgesamt minus the others: hide the next smallest
    for _, rows in items[items["org_type"] != TOTAL[0]].groupby(["wave", "item_code"]):
        small_here = small_group[rows.index]
        if small_here.sum() == 1:
            small_group[rows.loc[~small_here, "n_answered"].idxmin()] = True
    whole = _matches(dist, items[small_group], group)
    hidden = whole | ((dist["n"] > 0) & (dist["n"] < K) & (dist["org_type"] != TOTAL[0]))
    for _, rows in dist[hidden & ~whole].groupby(group):
        if len(rows) == 1:
            others = dist[_matches(dist, rows, group) & (dist["n"] > 0) & ~hidden]
            # a partner outside the scale leaves the mean publishable
            others = others.sort_values(["answer_value", "n"], na_position="first")
            if len(others):
                hidden[others.index[0]] = True
    _hide(dist, hidden, ["n"])
    scale_hidden = _matches(items, dist[hidden & dist["answer_value"].notna()], group)
    _hide(items, small_group, ["n_answered"])
    _hide(items, small_group | scale_hidden, ["n_valid", *_MEASURES])
    _hide_changes(items, ["org_type", "item_code"])
    return dist, items


def _matches(frame: pd.DataFrame, keys: pd.DataFrame, on: list[str]) -> pd.Series:
    """Which rows of `frame` have a key (the columns `on`) that occurs in `keys`."""
    wanted = set(keys[on].itertuples(index=False, name=None))
    return pd.Series([key in wanted for key in frame[on].itertuples(index=False, name=None)], index=frame.index)


def _hide_changes(frame: pd.DataFrame, keys: list[str]) -> None:
    """A change is hidden where either wave's figure is, as it would give the hidden one back."""
    first = frame[frame["wave"] == WAVES[0][0]]
    for measure in ("mean", "top2_share"):
        change = "mean_change" if measure == "mean" else "top2_change"
        was_hidden = _matches(frame, first[first[f"{measure}_status"] == "."], keys)
        latest = frame["wave"] == WAVES[1][0]
        _hide(frame, latest & (was_hidden | (frame[f"{measure}_status"] == ".")), [change])


def _hide_fields(truth: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """A field's figures are hidden where one of its items' are, or the field has fewer than k respondents."""
    fields = truth.copy()
    for level, key in (("handlungsfeld", "field_code"), ("thema", "theme_code")):
        at_level = fields["level"] == level
        item_hidden = _matches(fields, items[items["mean_status"] == "."], ["wave", "org_type", key])
        small = fields["n_respondents"] < K
        _hide(fields, at_level & small, ["n_respondents"])
        _hide(fields, at_level & (small | item_hidden), ["n_valid", *_MEASURES])
    _hide_changes(fields, ["org_type", "level", "field_code", "theme_code"])
    return fields


def _hide_texts(truth: pd.DataFrame) -> pd.DataFrame:
    texts = truth.copy()
    small = (texts["n_texts"] > 0) & (texts["n_texts"] < K) & (texts["org_type"] != TOTAL[0])
    for _, rows in texts[texts["org_type"] != TOTAL[0]].groupby(["wave", "field_code"]):
        if small[rows.index].sum() == 1:
            partners = rows[~small[rows.index] & (rows["n_texts"] > 0)]
            small[partners["n_texts"].idxmin()] = True
    _hide(texts, small, ["n_texts"])
    return texts


def _needs_ranking(items: pd.DataFrame, fields: pd.DataFrame) -> pd.DataFrame:
    """From published means only, weakest first: the 10 weakest items and all Handlungsfelder."""
    item_rows = items[(items["mean_status"] == "") & items["field_code"].notna()].assign(
        level="item", code=items["item_code"], label=items["item_label"]
    )
    field_rows = fields[(fields["level"] == "handlungsfeld") & (fields["mean_status"] == "")].assign(
        level="handlungsfeld", code=fields["field_code"], label=fields["field_label"]
    )
    ranked = []
    for frame, limit in ((item_rows, 10), (field_rows, None)):
        frame = frame.sort_values(["wave", "org_type", "mean", "top2_share"])
        frame = frame.assign(rank=frame.groupby(["wave", "org_type"]).cumcount() + 1)
        ranked.append(frame if limit is None else frame[frame["rank"] <= limit])
    columns = [
        "wave",
        "wave_label",
        "org_type",
        "org_type_label",
        "level",
        "rank",
        "code",
        "label",
        "field_code",
        "field_label",
        "mean",
        "top2_share",
        "n_valid",
    ]
    return pd.concat(ranked, ignore_index=True)[columns]
