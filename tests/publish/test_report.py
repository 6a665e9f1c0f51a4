"""The steering group's HTML report, opened in a real headless Chromium (Debian's, never a downloaded browser).

The page must render offline: every request that is not the file itself or a data: URL is aborted and counted,
as is every console error. A screenshot goes to $PIPELINE_REPORT_SCREENSHOT when set (for the closing note).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipeline.publish import palette
from pipeline.publish.report import write_report
from tests.publish.published_tables import FIELDS, Release, release

CHROMIUM = Path("/usr/bin/chromium")
LEGEND_HIDDEN = "Zahlenwert geheim zu halten"


@dataclass
class Rendered:
    html: str
    text: str
    figures: dict[str, int]
    chart_texts: dict[str, str]
    # the overview matrix as Chromium draws it: (text, computed background) per cell
    overview: list[tuple[str, str]] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def published() -> Release:
    return release()


@pytest.fixture(scope="module")
def report(published: Release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(published.tables, published.meta, tmp_path_factory.mktemp("report") / "bericht.html")


@pytest.fixture(scope="module")
def rendered(report: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            pytest.skip(f"{CHROMIUM} is missing and installing it needs root: run ./dev test, which installs it")
        pytest.fail(f"{CHROMIUM} is missing: ./dev test installs Debian's chromium before the tests")
    from playwright.sync_api import Request, Route, sync_playwright

    screenshot = Path(os.environ.get("PIPELINE_REPORT_SCREENSHOT") or tmp_path_factory.mktemp("shot") / "bericht.png")
    blocked: list[str] = []
    errors: list[str] = []
    failed: list[str] = []

    def offline(route: Route, request: Request) -> None:
        if request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
            context.route("**/*", offline)
            page = context.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
            page.goto(report.as_uri(), wait_until="load")
            figures = page.locator("figure[data-field]:has(svg)")
            codes = [figures.nth(i).get_attribute("data-field") or "" for i in range(figures.count())]
            result = Rendered(
                html=page.content(),
                text=page.inner_text("body"),
                figures={code: codes.count(code) for code in codes},
                chart_texts={
                    code: page.locator(f'figure[data-field="{code}"] svg').text_content() or "" for code in codes
                },
            )
            result.overview = [
                tuple(cell)
                for cell in page.locator("#ueberblick td").evaluate_all(
                    "cells => cells.map(c => [c.innerText, getComputedStyle(c).backgroundColor])"
                )
            ]
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    result.console_errors, result.failed_requests, result.blocked_requests = errors, failed, blocked
    assert screenshot.stat().st_size > 10_000
    yield result


def test_report_renders_offline_without_console_errors(rendered: Rendered) -> None:
    assert rendered.blocked_requests == []
    assert rendered.failed_requests == []
    assert rendered.console_errors == []


def test_report_is_one_self_contained_file(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert '<html lang="de">' in html
    assert "<script" not in html
    assert "@font-face" not in html and "@import" not in html
    assert not re.search(r"(https?:|ftp:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE), "no address of any kind"
    references = re.findall(r'(?:href|src)="([^"]*)"', html) + re.findall(r"url\(([^)]*)\)", html)
    assert references
    assert all(r.startswith(("#", "data:")) for r in references), references


def test_one_chart_per_handlungsfeld(rendered: Rendered) -> None:
    assert rendered.figures == dict.fromkeys(FIELDS, 1)


def test_charts_mark_hidden_counts_without_showing_them(rendered: Rendered, published: Release) -> None:
    dist = published.tables["item_distribution"]
    items = published.tables["item_results"]
    scale_items = set(items.loc[items["item_type"] == "scale", "item_code"])
    latest = dist[(dist["wave"] == "2026") & dist["item_code"].isin(scale_items)]
    answered = items.loc[(items["wave"] == "2026") & (items["n_answered_status"] == ""), ["org_type", "item_code"]]
    # "geheim" appears where a group with a published size has hidden counts
    with_hidden = latest[latest["n_status"] == "."].merge(answered, on=["org_type", "item_code"])
    for code in FIELDS:
        assert ("geheim" in rendered.chart_texts[code]) == (code in set(with_hidden["field_code"])), code
    assert len(set(with_hidden["field_code"])) >= 1


def _rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)))


def test_the_overview_colours_each_published_mean_by_its_class_and_hidden_ones_grey(rendered: Rendered) -> None:
    means = [(text, colour) for text, colour in rendered.overview if re.match(r"^\d,\d\d", text)]
    hidden = [colour for text, colour in rendered.overview if text.startswith(".")]
    assert means and hidden
    for text, colour in means:
        mean = float(text[:4].replace(",", "."))
        if any(abs(mean - upper) < 0.006 for upper, _, _ in palette.CLASSES):
            continue  # shown rounded to two decimals: the class of a mean at a bound is not in the text
        assert colour == _rgb(palette.colours(mean)[0]), text
    assert len({colour for _, colour in means}) >= 2, "the colours tell means apart"
    assert set(hidden) == {_rgb("#f1f1f1")}
    assert "Farbe des Mittelwerts" in rendered.text


def test_yes_no_and_multiple_choice_items_show_shares_with_their_counts(rendered: Rendered, published: Release) -> None:
    """Made of published counts only: where ja and nein are both published, the share of ja and both counts."""
    text = " ".join(rendered.text.split())  # a count goes below its share in the cell
    dist = published.tables["item_distribution"]
    items = published.tables["item_results"]
    latest = dist[(dist["wave"] == "2026") & dist["field_code"].notna()]  # the Handlungsfelder's items
    yes_no = set(items.loc[items["item_type"] == "yesno", "item_code"])
    counts = latest[latest["item_code"].isin(yes_no) & latest["answer_code"].isin(["ja", "nein"])]
    shown = counts.pivot_table(index=["item_code", "org_type"], columns="answer_code", values="n", aggfunc="first")
    statuses = counts.pivot_table(
        index=["item_code", "org_type"], columns="answer_code", values="n_status", aggfunc="first"
    ).fillna("")
    both = ((statuses["ja"] == "") & (statuses["nein"] == "")).reindex(shown.index, fill_value=False)
    published_pairs = shown[both].dropna()
    assert len(published_pairs)
    for (_, _), row in published_pairs.iterrows():
        yes, total = int(row["ja"]), int(row["ja"] + row["nein"])
        if total:
            assert f"{100 * yes / total:.0f} % ({yes} von {total})" in text
    multi = items[(items["item_type"] == "multi") & (items["wave"] == "2026") & items["field_code"].notna()]
    assert ("Mehrfachauswahl: Anteil der Antwortenden" in text) == bool(len(multi))
    options = latest.merge(multi[["org_type", "item_code", "n_answered", "n_answered_status"]])
    for row in options[(options["n_status"] == "") & (options["n_answered_status"] == "")].itertuples():
        if row.n_answered:
            share = f"{100 * row.n / row.n_answered:.0f} % ({row.n} von {row.n_answered})"
            assert share in text


def test_hidden_cells_show_the_mark_and_the_legend(rendered: Rendered) -> None:
    assert re.search(r"(^|\s)\.(\s|$)", rendered.text, re.MULTILINE)
    assert "„.“" in rendered.text and LEGEND_HIDDEN in rendered.text
    assert "Tabellenfach gesperrt, weil Aussage nicht sinnvoll" in rendered.text
    assert "Hinweise zur Methode" in rendered.text


def test_no_hidden_value_appears_in_the_page(rendered: Rendered, published: Release) -> None:
    """A hidden mean of the input, formatted as the page formats means, is nowhere in text, charts or markup."""
    shown_means: set[str] = set()
    hidden: set[str] = set()
    for name in ("item_results", "field_results"):
        table, truth = published.tables[name], published.truth[name]
        for column in ("mean", "mean_change"):
            shown_means |= {f"{v:.2f}" for v in table[column].dropna()} | {f"{v:+.2f}" for v in table[column].dropna()}
            secret = truth.loc[(table[f"{column}_status"] == ".") & truth[column].notna(), column]
            hidden |= {f"{v:.2f}" if column == "mean" else f"{abs(v):.2f}" for v in secret}
    # a hidden value that happens to equal a published one cannot be told apart; the others are checked
    distinct = {v for v in hidden if v not in {s.lstrip("+-") for s in shown_means} and v != "0.00"}
    assert len(distinct) >= 5
    # SVG path data is full of decimals; the charts' own text is checked on its own
    markup = re.sub(r"<svg.*?</svg>", "", rendered.html, flags=re.DOTALL)
    charts = " ".join(rendered.chart_texts.values())
    for value in distinct:
        german = value.replace(".", ",")
        assert german not in rendered.text, value
        assert german not in markup and value not in markup, value
        assert german not in charts and value not in charts, value


def test_audit_cell_and_true_value_are_not_named(rendered: Rendered, published: Release) -> None:
    narrowest = published.meta["audit"]["narrowest"]
    assert narrowest["cell"] not in rendered.html
    assert "Prüfung bestanden" in rendered.text


def test_report_is_deterministic(published: Release, report: Path, tmp_path: Path) -> None:
    again = write_report(published.tables, published.meta, tmp_path / "nochmal.html")
    assert again.read_bytes() == report.read_bytes()


def test_a_notable_change_of_a_mean_is_marked_and_explained(report: Path, published: Release) -> None:
    html = report.read_text(encoding="utf-8")
    items = published.tables["item_results"]
    changes = items.loc[(items["wave"] == "2026") & (items["mean_change_status"] == ""), "mean_change"].dropna()
    notable = changes[changes.abs() >= 0.3]
    assert len(notable) and len(changes) > len(notable), "the fixture has both kinds"
    for value in notable:
        arrow = "▲" if value > 0 else "▼"
        shown = f"{value:+.2f}".replace(".", ",").replace("-", "−")
        assert f"{arrow} ({shown})" in html
    for value in changes[changes.abs() < 0.3]:
        shown = f"{value:+.2f}".replace(".", ",").replace("-", "−")
        assert f"▲ ({shown})" not in html and f"▼ ({shown})" not in html
    assert "deutliche Veränderung des Mittelwerts, um mindestens 0,3 Skalenpunkte" in html
