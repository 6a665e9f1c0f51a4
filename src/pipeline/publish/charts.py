"""Charts for the report: the answer distribution of a Handlungsfeld by organisation type, as inline SVG.

matplotlib rather than Vega-Lite: it needs no JavaScript runtime in the report nor a converter beside Python
(vl-convert bundles Deno), draws hatched segments natively, and writes SVG that can be inlined as it is. Text
stays text (`svg.fonttype = 'none'`): the file stays small, the browser renders it with a local sans-serif font
(no font is embedded or fetched), and the numbers in a chart are searchable like the rest of the page, so the
report test sees them too. Output is deterministic: no date in the metadata, a fixed hash salt for the ids.
Figures are made without pyplot, so no GUI backend or global figure state is involved.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

SCALE = (1, 2, 3, 4, 5)
# Diverging from weak (red) to strong (blue): readable with the common colour vision deficiencies.
SCALE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#abd9e9", "#2c7bb6")
OTHER_COLOURS = {"wn": "#b3b3b3", "ka": "#dcdcdc"}
HIDDEN_LABEL = "geheim"
HIDDEN_STYLE = {"facecolor": "#ffffff", "edgecolor": "#6e6e6e", "hatch": "////"}

# where the field's items use scales with different wordings, only the ends are named
_STEPS = {1: "1 niedrigste Stufe", 5: "5 höchste Stufe"}
_LEGEND_COLUMNS = 4
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "chancencheck-report",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
    "font.size": 9,
    "hatch.linewidth": 0.8,
}


@dataclass(frozen=True)
class Bar:
    """One organisation type's bar: answers per category, the hidden rest, or nothing publishable."""

    label: str
    counts: dict[str, int]
    hidden: int

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.hidden


def field_bars(distribution: pd.DataFrame, results: pd.DataFrame, orgs: Sequence[tuple[str, str]]) -> list[Bar]:
    """Sum the published answer counts of a field's scale items per organisation type.

    `distribution` and `results` are the published item_distribution and item_results rows of one field and
    one wave. Only groups (item × organisation type) whose n_answered is published take part: their hidden
    counts become one "geheim" amount, n_answered minus the published counts, which anyone can compute from
    the tables already. A group whose n_answered is hidden is left out whole, since showing its answers in any
    form would give its size away.
    """
    scale_items = set(distribution.loc[distribution["answer_value"].notna(), "item_code"])
    published = results[results["item_code"].isin(scale_items) & (results["n_answered_status"].fillna("") == "")]
    bars = []
    for org, org_label in orgs:
        groups = published[published["org_type"] == org]
        rows = distribution[(distribution["org_type"] == org) & distribution["item_code"].isin(groups["item_code"])]
        shown = rows[rows["n_status"].fillna("") == ""]
        counts = shown["n"].groupby(_categories(shown), sort=False).sum()
        counts_by_category = {str(c): int(n) for c, n in counts.items()}
        hidden = int(groups["n_answered"].sum()) - sum(counts_by_category.values())
        bars.append(Bar(org_label, counts_by_category, max(hidden, 0)))
    return bars


def category_labels(distribution: pd.DataFrame) -> dict[str, str]:
    """Legend labels: a scale value with its wording when every item of the field words it the same way."""
    labels: dict[str, str] = {}
    on_scale = distribution[distribution["answer_value"].notna()]
    for value in SCALE:
        words = sorted(set(on_scale.loc[on_scale["answer_value"] == value, "answer_label"]))
        labels[str(value)] = f"{value} {words[0]}" if len(words) == 1 else _STEPS.get(value, str(value))
    off_scale = distribution[distribution["answer_value"].isna()].drop_duplicates("answer_code")
    for code, label in zip(off_scale["answer_code"], off_scale["answer_label"], strict=True):
        labels[str(code)] = str(label)
    return labels


def distribution_svg(bars: Sequence[Bar], labels: dict[str, str], chart_id: str, title: str) -> str:
    """Stacked horizontal bars of answer shares (100 % per organisation type) as an SVG element to inline.

    `chart_id` prefixes every id in the SVG, so that several charts in one page never share one. A bar with
    nothing publishable is drawn empty and marked ".". Percentages below 6 % are not written into the bar.
    """
    categories = [c for c in labels if any(c in b.counts for b in bars)]
    with matplotlib.rc_context(_RC):
        # A bare Figure, not pyplot: no global figure registry, no GUI backend, safe in any thread.
        fig = Figure(figsize=(9.0, 1.4 + 0.42 * len(bars)))
        ax = fig.subplots()
        y = np.arange(len(bars))[::-1]
        left = np.zeros(len(bars))
        for category in categories:
            shares = np.array([_share(b, b.counts.get(category, 0)) for b in bars])
            colour = _colour(category)
            ax.barh(y, shares, left=left, color=colour, edgecolor="white", linewidth=0.6, label=labels[category])
            _annotate(ax, y, left, shares, dark=category in ("1", "5"))
            left += shares
        hidden = np.array([_share(b, b.hidden) for b in bars])
        if hidden.any():
            ax.barh(y, hidden, left=left, linewidth=0.6, label=HIDDEN_LABEL, **HIDDEN_STYLE)
        for row, bar in zip(y, bars, strict=True):
            if bar.total == 0:
                ax.text(1, row, ".", va="center", ha="left")
        ax.set_yticks(y, [_bar_label(b) for b in bars])
        ax.set_xlim(0, 100)
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0, symbol=" %"))
        ax.set_xlabel("Anteil an den Antworten")
        ax.spines[["top", "right"]].set_visible(False)
        handles, names = ax.get_legend_handles_labels()
        ax.legend(
            _row_major(handles, _LEGEND_COLUMNS),
            _row_major(names, _LEGEND_COLUMNS),
            loc="upper center",
            bbox_to_anchor=(0.45, -0.5 / (1 + 0.3 * len(bars))),
            ncol=_LEGEND_COLUMNS,
            frameon=False,
        )
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    return _inlineable(buffer.getvalue(), chart_id, title)


def _row_major(entries: list, columns: int) -> list:
    """matplotlib fills a legend column by column; reorder so that it reads line by line, 1 to 5 first."""
    rows = -(-len(entries) // columns)
    return [entries[r * columns + c] for c in range(columns) for r in range(rows) if r * columns + c < len(entries)]


def _categories(frame: pd.DataFrame) -> pd.Series:
    """A scale answer's category is its value (items word the same value differently), else its code."""
    values = frame["answer_value"].astype("Float64").round().astype("Int64").astype("string")
    return values.fillna(frame["answer_code"].astype("string"))


def _share(bar: Bar, n: int) -> float:
    return 100.0 * n / bar.total if bar.total else 0.0


def _colour(category: str) -> str:
    if category.isdigit() and int(category) in SCALE:
        return SCALE_COLOURS[int(category) - 1]
    return OTHER_COLOURS.get(category, "#8c8c8c")


def _annotate(ax: Axes, y: np.ndarray, left: np.ndarray, shares: np.ndarray, dark: bool) -> None:
    for row, start, share in zip(y, left, shares, strict=True):
        if share >= 6:
            colour = "white" if dark else "black"
            ax.text(start + share / 2, row, f"{share:.0f} %", ha="center", va="center", color=colour, fontsize=8)


def _bar_label(bar: Bar) -> str:
    return f"{bar.label} (n = {bar.total:,})".replace(",", ".") if bar.total else bar.label


def _inlineable(svg: str, chart_id: str, title: str) -> str:
    """The bare <svg> element: no XML prolog or DTD (a URL), ids prefixed, scaled to the page's width."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg)
    svg = svg.replace("xlink:href=", "href=")
    svg = re.sub(r'\bid="', f'id="{chart_id}-', svg)
    svg = re.sub(r"url\(#", f"url(#{chart_id}-", svg)
    svg = re.sub(r'href="#', f'href="#{chart_id}-', svg)
    svg = re.sub(r'<svg width="[^"]*" height="[^"]*"', f'<svg role="img" aria-label="{_attr(title)}"', svg, count=1)
    return svg.strip()


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
