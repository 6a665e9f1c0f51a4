"""The steering group's workbook, opened with openpyxl: sheets, German labels, "." marks, the tables' numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.publish.workbook import write_workbook
from tests.publish.published_tables import FIELDS, Release, release

LEGEND_HIDDEN = "Zahlenwert geheim zu halten"


@pytest.fixture(scope="module")
def published() -> Release:
    return release()


@pytest.fixture(scope="module")
def book(published: Release, tmp_path_factory: pytest.TempPathFactory) -> Workbook:
    path = write_workbook(published.tables, published.meta, tmp_path_factory.mktemp("workbook") / "ergebnisse.xlsx")
    return load_workbook(path)


def field_sheet(book: Workbook, code: str) -> Worksheet:
    (name,) = [n for n in book.sheetnames if n.startswith(f"{code} ")]
    return book[name]


def records(sheet: Worksheet) -> list[dict[str, object]]:
    """The sheet's table as dicts keyed by German header (the header row is the one starting the table)."""
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] in ("Welle", "Handlungsfeld"))
    header = [str(h) for h in rows[start]]
    return [dict(zip(header, row, strict=True)) for row in rows[start + 1 :]]


def cells(sheet: Worksheet) -> dict[tuple[str, str, str], dict[str, object]]:
    return {(r["Welle"], r["Code"], r["Organisationsart"]): r for r in records(sheet)}


def expected(value: object, status: str) -> object:
    """What the cell holds: the mark, or the value (openpyxl writes floats with 16 significant digits)."""
    if status:
        return status
    return pytest.approx(value, rel=1e-15) if isinstance(value, float) else value


def test_sheets_are_named_in_german_with_one_per_handlungsfeld(book: Workbook) -> None:
    assert book.sheetnames[0] == "Übersicht"
    for name in ("Handlungsbedarfe", "Freitexte", "Antwortverteilung", "Angaben zur Person", "Legende", "Methodik"):
        assert name in book.sheetnames
    for code, (_, label) in FIELDS.items():
        sheet = field_sheet(book, code)
        assert len(sheet.title) <= 31
        assert label.startswith(sheet.title[len(code) + 1 :].rstrip("…"))
        assert sheet["A1"].value == f"{code} {label}"


def test_overview_shows_each_handlungsfeld_by_organisation_type_for_the_latest_wave(
    book: Workbook, published: Release
) -> None:
    sheet = book["Übersicht"]
    assert "Welle 2026" in sheet["A2"].value and "k = 5" in sheet["A2"].value
    assert LEGEND_HIDDEN in sheet["A3"].value
    shown = {(r["Handlungsfeld"], r["Organisationsart"]): r for r in records(sheet)}
    fields = published.tables["field_results"]
    latest = fields[(fields["wave"] == "2026") & (fields["level"] == "handlungsfeld")]
    assert len(shown) == len(latest)
    for row in latest.itertuples():
        cells_ = shown[(f"{row.field_code} {row.field_label}", row.org_type_label)]
        assert cells_["Befragte"] == expected(row.n_respondents, row.n_respondents_status)
        assert cells_["Mittelwert"] == expected(row.mean, row.mean_status)
        assert cells_["Top-2-Anteil"] == expected(row.top2_share, row.top2_share_status)
    assert list(shown)[0][1] == "Insgesamt", "the margin heads each Handlungsfeld"


def test_field_sheets_hold_the_item_and_field_figures_with_their_marks(book: Workbook, published: Release) -> None:
    items = published.tables["item_results"]
    fields = published.tables["field_results"]
    checked = {".": 0, "x": 0, "": 0}
    for code in FIELDS:
        shown = cells(field_sheet(book, code))
        for row in items[items["field_code"] == code].itertuples():
            cell = shown[(row.wave_label, row.item_code, row.org_type_label)]
            assert cell["Antwortende"] == expected(row.n_answered, row.n_answered_status)
            assert cell["Gültige Skalenantworten"] == expected(row.n_valid, row.n_valid_status)
            assert cell["Mittelwert"] == expected(row.mean, row.mean_status)
            assert cell[next(h for h in cell if h.startswith("Veränderung Mittelwert"))] == expected(
                row.mean_change, row.mean_change_status
            )
            checked[row.mean_status] += 1
        whole = fields[(fields["field_code"] == code) & (fields["level"] == "handlungsfeld")]
        for row in whole.itertuples():
            cell = shown[(row.wave_label, code, row.org_type_label)]
            assert cell["Antwortende"] == expected(row.n_respondents, row.n_respondents_status)
            assert cell["Mittelwert"] == expected(row.mean, row.mean_status)
    assert all(checked.values()), f"the tables exercise published, hidden and not-applicable means: {checked}"


def test_hidden_and_not_applicable_values_are_right_aligned_marks(book: Workbook) -> None:
    sheet = field_sheet(book, "HF1")
    marks = [c for row in sheet.iter_rows(min_row=6) for c in row if c.value in (".", "x")]
    assert {c.value for c in marks} == {".", "x"}
    assert all(c.alignment.horizontal == "right" for c in marks)


def test_counts_without_a_scale_and_free_text_counts_match_the_tables(book: Workbook, published: Release) -> None:
    items = published.tables["item_results"]
    without_scale = set(items.loc[items["item_type"] != "scale", "item_code"])
    dist = published.tables["item_distribution"]
    dist = dist[dist["item_code"].isin(without_scale)]
    shown = {
        (r["Welle"], r["Code"], r["Organisationsart"], r["Antwort"]): r["Anzahl"]
        for r in records(book["Antwortverteilung"])
    }
    assert len(shown) == len(dist)
    for row in dist.itertuples():
        assert shown[(row.wave_label, row.item_code, row.org_type_label, row.answer_label)] == expected(
            row.n, row.n_status
        )
    texts = published.tables["free_text_counts"]
    shown_texts = {
        (r["Welle"], r["Handlungsfeld"], r["Organisationsart"]): r["Personen mit Freitextantwort"]
        for r in records(book["Freitexte"])
    }
    for row in texts.itertuples():
        key = (row.wave_label, f"{row.field_code} {row.field_label}", row.org_type_label)
        assert shown_texts[key] == expected(row.n_texts, row.n_texts_status)


def test_needs_are_ranked_as_published(book: Workbook, published: Release) -> None:
    needs = published.tables["needs_ranking"]
    shown = records(book["Handlungsbedarfe"])
    assert len(shown) == len(needs)
    first = shown[0]
    assert (first["Welle"], first["Organisationsart"], first["Ebene"], first["Rang"]) == (
        "Welle 2026",
        "Insgesamt",
        "Handlungsfeld",
        1,
    )
    weakest = needs[
        (needs["wave"] == "2026") & (needs["org_type"] == "insgesamt") & (needs["level"] == "handlungsfeld")
    ]
    assert first["Code"] == weakest.sort_values("rank")["code"].iloc[0]
    assert first["Mittelwert"] == pytest.approx(weakest["mean"].min())


def test_headers_are_frozen_and_numbers_formatted(book: Workbook) -> None:
    for name in book.sheetnames:
        assert book[name].freeze_panes is not None, name
    sheet = field_sheet(book, "HF1")
    header = [c.value for c in sheet[5]]
    formats = {}
    for row in sheet.iter_rows(min_row=6):
        for title, cell in zip(header, row, strict=True):
            if isinstance(cell.value, float | int):
                formats.setdefault(title, cell.number_format)
    assert formats["Mittelwert"] == "0.00"
    assert formats["Top-2-Anteil"] == "0%"
    assert formats[next(h for h in header if h.startswith("Veränderung Mittelwert"))] == "+0.00;-0.00;0.00"
    assert sheet.column_dimensions["C"].width >= 40, "item wording gets room"


def test_mean_columns_carry_a_colour_scale(book: Workbook) -> None:
    for sheet in (book["Übersicht"], field_sheet(book, "HF3"), book["Handlungsbedarfe"]):
        header = [c.value for c in sheet[5]]
        mean_column = chr(ord("A") + header.index("Mittelwert"))
        scales = [
            (str(range_.sqref), rule)
            for range_ in sheet.conditional_formatting
            for rule in range_.rules
            if rule.type == "colorScale"
        ]
        assert scales, sheet.title
        assert all(sqref.startswith(f"{mean_column}6:") for sqref, _ in scales)
        # the report's colour-blind-safe scale: orange for weak, purple for strong, over the fixed 1..5
        for _, rule in scales:
            colours = [c.rgb[-6:] for c in rule.colorScale.color]
            assert colours == ["E66101", "F7F7F7", "5E3C99"], colours
            assert [v.val for v in rule.colorScale.cfvo] == [1.0, 3.0, 5.0] or [
                float(v.val) for v in rule.colorScale.cfvo
            ] == [1.0, 3.0, 5.0]


def test_legend_and_method_explain_the_marks_and_the_audit(book: Workbook, published: Release) -> None:
    legend = {row[0]: row[1] for row in book["Legende"].iter_rows(min_row=6, values_only=True) if row[0]}
    assert legend["."] == LEGEND_HIDDEN
    assert legend["x"].startswith("Tabellenfach gesperrt, weil Aussage nicht sinnvoll")
    assert "Ludwigshafen" in legend["Quelle"]
    method = " ".join(str(v) for row in book["Methodik"].iter_rows(values_only=True) for v in row if v)
    for phrase in ("abgeschlossene", "weiß nicht", "primär", "sekundär", "Top-2-Anteil", "Prüfung bestanden"):
        assert phrase in method
    narrowest = published.meta["audit"]["narrowest"]
    assert narrowest["cell"] not in method, "the audit names no hidden cell"


def test_no_hidden_value_is_written_anywhere(book: Workbook, published: Release) -> None:
    item_truth = published.truth["item_results"]
    items = published.tables["item_results"]
    hidden_means = item_truth.loc[(items["mean_status"] == ".") & item_truth["mean"].notna(), "mean"]
    assert len(hidden_means)
    numbers = {
        round(c, 9) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row if isinstance(c, float)
    }
    published_means = set(items["mean"].dropna().round(9))
    assert not ({round(m, 9) for m in hidden_means} - published_means) & numbers


def test_workbook_for_a_single_wave_has_no_changes(published: Release, tmp_path: Path) -> None:
    tables = {name: frame[frame["wave"] == "2025"] for name, frame in published.tables.items()}
    meta = {**published.meta, "waves": published.meta["waves"][:1]}
    book = load_workbook(write_workbook(tables, meta, tmp_path / "eine-welle.xlsx"))
    overview = records(book["Übersicht"])
    change = next(h for h in overview[0] if h.startswith("Veränderung Mittelwert"))
    assert {r[change] for r in overview} == {"x"}
    assert isinstance(pd.DataFrame(overview)["Mittelwert"].iloc[0], float)


def test_every_sheet_prints_on_a4_landscape_with_its_header_and_the_release(book: Workbook, published: Release) -> None:
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert (setup.orientation, setup.paperSize, setup.fitToWidth) == ("landscape", 9, 1), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert published.meta["release_id"] in sheet.oddHeader.right.text, sheet.title
        assert sheet.oddFooter.right.text == "Seite &P von &N"
    assert book["Übersicht"].print_title_rows == "$5:$5"


def test_changes_of_shares_read_as_percentage_points(book: Workbook, published: Release) -> None:
    sheet = field_sheet(book, "HF3")
    header = [c.value for c in sheet[5]]
    column = next(i for i, h in enumerate(header) if str(h).startswith("Veränderung Top-2-Anteil"))
    cells = [row[column] for row in sheet.iter_rows(min_row=6) if isinstance(row[column].value, float)]
    assert cells, "HF3 shows changes of the top-2 share"
    assert {c.number_format for c in cells} == {'+0" Pp.";-0" Pp.";0" Pp."'}
    changes = pd.concat([published.tables[name] for name in ("field_results", "item_results")])
    points = {round(100 * v, 6) for v in changes.loc[changes["top2_change_status"] == "", "top2_change"].dropna()}
    assert all(round(c.value, 6) in points for c in cells), "written as 100 x the published change"


def test_a_matrix_shows_each_handlungsfeld_by_organisation_type_coloured_by_its_mean(
    book: Workbook, published: Release
) -> None:
    sheet = book["Auf einen Blick"]
    assert book.sheetnames.index("Auf einen Blick") == 1
    header = [c.value for c in sheet[5] if c.value]
    assert header[:2] == ["Handlungsfeld", "Insgesamt"]
    fields = published.tables["field_results"]
    latest = fields[(fields["level"] == "handlungsfeld") & (fields["wave"] == "2026")]
    assert set(header[1:]) == set(latest["org_type_label"])
    shown = {}
    for row in sheet.iter_rows(min_row=6, values_only=True):
        if row[0]:
            for label, value in zip(header[1:], row[1:], strict=False):
                shown[(row[0].split(" ")[0], label)] = value
    for r in latest.itertuples():
        expected = "." if r.mean_status == "." else pytest.approx(r.mean)
        assert shown[(r.field_code, r.org_type_label)] == expected, (r.field_code, r.org_type_label)
    scales = [rule for range_ in sheet.conditional_formatting for rule in range_.rules if rule.type == "colorScale"]
    assert [c.rgb[-6:] for c in scales[0].colorScale.color] == ["E66101", "F7F7F7", "5E3C99"]
