"""The steering group's Excel workbook of a release: overview, one sheet per Handlungsfeld, needs, legend, method.

Everything the reader sees is German. A hidden value is the text "." and a value that would make no sense is
"x", both right-aligned like numbers, as in German official statistics; the legend says so on every sheet.
Numbers keep their full precision in the cells and are only shown rounded (number formats), so a reader's own
sums in Excel agree with the data files. The wording shared with the HTML report (legend, notes on method,
orders) lives here too, so that both artefacts say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.publish import palette
from pipeline.publish.wording import (
    ITEM_TYPES,
    LEGEND,
    PERSONAL,
    TITLE,
    Waves,
    grouped_line,
    legend_entries,
    legend_line,
    method_notes,
    published_on,
    release_line,
)
from pipeline.vocabulary import TOTAL

_FORMATS = {
    "count": "#,##0",
    "mean": "0.00",
    "share": "0%",
    "change": "+0.00;-0.00;0.00",
    # a change of a share is in percentage points: written as points (x 100), shown "+5 Pp."
    "share_change": '+0" Pp.";-0" Pp.";0" Pp."',
}
_HEADER_ROW = 5
MATRIX = "Auf einen Blick"
_BOLD = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="7F7F7F"))
_RIGHT = Alignment(horizontal="right")
_WRAP = Alignment(wrap_text=True, vertical="top")
# The report's colours (pipeline.publish.palette), continuous over the fixed 1..5 scale so sheets compare.
_MEAN_SCALE = ColorScaleRule(
    start_type="num",
    start_value=palette.LOWEST,
    start_color=palette.CLASSES[0][1].lstrip("#").upper(),
    mid_type="num",
    mid_value=(palette.LOWEST + palette.HIGHEST) / 2,
    mid_color=palette.CLASSES[2][1].lstrip("#").upper(),
    end_type="num",
    end_value=palette.HIGHEST,
    end_color=palette.CLASSES[-1][1].lstrip("#").upper(),
)


@dataclass(frozen=True)
class Column:
    """A sheet column: its German header, the frame column it shows (with `<source>_status`), format, width."""

    header: str
    source: str
    kind: str = "text"
    width: float = 14


def write_workbook(tables: dict[str, pd.DataFrame], meta: dict, path: Path) -> Path:
    """Write the workbook of one release to `path` and return it.

    `tables` are the published tables (item_distribution, item_results, field_results, free_text_counts,
    needs_ranking) with their `_status` columns; `meta` the release's metadata (release_id, published_at,
    disclosure_k, waves in order of opening, instrument_versions, partners, audit). Waves are shown latest first.
    """
    book = Workbook()
    book.remove(book.active)
    waves = Waves(meta)
    _overview(book.create_sheet("Übersicht"), tables["field_results"], meta, waves)
    _matrix(book.create_sheet(MATRIX), tables["field_results"], meta, waves)
    for code, label in field_list(tables["field_results"]):
        _field_sheet(book.create_sheet(sheet_name(code, label)), tables, code, label, waves)
    personal = tables["item_results"][tables["item_results"]["field_code"].isna()]
    if len(personal):
        _personal_sheet(book.create_sheet("Angaben zur Person"), personal, waves)
    _needs_sheet(book.create_sheet("Handlungsbedarfe"), tables["needs_ranking"], waves)
    _distribution_sheet(book.create_sheet("Antwortverteilung"), tables["item_distribution"], waves)
    _free_text_sheet(book.create_sheet("Freitexte"), tables["free_text_counts"], waves)
    _legend_sheet(book.create_sheet("Legende"), meta, waves)
    _method_sheet(book.create_sheet("Methodik"), meta, waves)
    for sheet in book.worksheets:
        _print_setup(sheet, meta)
    book.properties.title = f"{TITLE} ({meta['release_id']})"
    book.properties.creator = "ChancenCheckLU-Pipeline"
    # openpyxl writes these as naive UTC
    stamp = datetime.fromisoformat(meta["published_at"]).astimezone(UTC).replace(tzinfo=None)
    book.properties.created = book.properties.modified = stamp
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def field_list(field_results: pd.DataFrame) -> list[tuple[str, str]]:
    """The Handlungsfelder of the release in their numbering: (code, label)."""
    fields = field_results[field_results["level"] == "handlungsfeld"]
    fields = fields.drop_duplicates("field_code").sort_values(["field_number", "field_code"])
    return list(zip(fields["field_code"], fields["field_label"], strict=True))


def org_rank(frame: pd.DataFrame) -> pd.Series:
    """Sort key for organisation types: "Insgesamt" first, the others alphabetically by label."""
    labels = sorted(set(frame.loc[frame["org_type"] != TOTAL, "org_type_label"].astype(str)))
    positions = {label: i + 1 for i, label in enumerate(labels)}
    return frame["org_type_label"].astype(str).map(positions).where(frame["org_type"] != TOTAL, 0)


def sheet_name(code: str, label: str) -> str:
    """Excel allows 31 characters and none of []:*?/\\ in a sheet name."""
    name = "".join(" " if c in "[]:*?/\\" else c for c in f"{code} {label}")
    return name if len(name) <= 31 else name[:30].rstrip() + "…"


def _overview(sheet: Worksheet, fields: pd.DataFrame, meta: dict, waves: Waves) -> None:
    latest = fields[(fields["level"] == "handlungsfeld") & (fields["wave"] == waves.latest)]
    latest = latest.assign(field=_field_name(latest), _org=org_rank(latest))
    latest = latest.sort_values(["field_number", "_org"])
    subtitle = (
        f"Handlungsfelder nach Organisationsart, {waves.labels.get(waves.latest, '')}; {release_line(meta, waves)}"
    )
    _heading(sheet, TITLE, subtitle)
    columns = [
        Column("Handlungsfeld", "field", width=44),
        Column("Organisationsart", "org_type_label", width=30),
        Column("Befragte", "n_respondents", "count", 11),
        Column("Gültige Skalenantworten", "n_valid", "count", 13),
        Column("Mittelwert", "mean", "mean", 11),
        Column("Top-2-Anteil", "top2_share", "share", 11),
        Column(f"Veränderung Mittelwert {waves.since()}", "mean_change", "change", 14),
        Column(f"Veränderung Top-2-Anteil {waves.since()} (Prozentpunkte)", "top2_change", "share_change", 16),
    ]
    _table(sheet, latest, columns, frozen_columns=2)


def _matrix(sheet: Worksheet, fields: pd.DataFrame, meta: dict, waves: Waves) -> None:
    """Handlungsfeld by organisation type, the mean in each cell and coloured by it: where action is needed,
    at a glance (the report's overview, in the same colours)."""
    latest = fields[(fields["level"] == "handlungsfeld") & (fields["wave"] == waves.latest)]
    latest = latest.assign(field=_field_name(latest), _org=org_rank(latest))
    orgs = latest.drop_duplicates("org_type").sort_values("_org")
    rows = latest.drop_duplicates("field_code").sort_values(["field_number", "field_code"])
    subtitle = (
        f"Mittelwert je Handlungsfeld und Organisationsart, {waves.labels.get(waves.latest, '')}; "
        f"{release_line(meta, waves)}"
    )
    _heading(sheet, MATRIX, subtitle)
    headers = ["Handlungsfeld", *orgs["org_type_label"].astype(str)]
    for index, header in enumerate(headers, start=1):
        cell = sheet.cell(_HEADER_ROW, index, header)
        cell.font, cell.fill, cell.border, cell.alignment = _BOLD, _HEADER_FILL, _HEADER_BORDER, _WRAP
        sheet.column_dimensions[get_column_letter(index)].width = 44 if index == 1 else 16
    sheet.row_dimensions[_HEADER_ROW].height = 45
    by_cell = {(r.field_code, r.org_type): r for r in latest.itertuples()}
    for offset, field in enumerate(rows.itertuples(), start=_HEADER_ROW + 1):
        sheet.cell(offset, 1, field.field)
        for index, org in enumerate(orgs["org_type"], start=2):
            found = by_cell.get((field.field_code, org))
            if found is not None:
                _put(sheet.cell(offset, index), found.mean, found.mean_status, "mean")
    last = _HEADER_ROW + len(rows)
    if len(rows) and len(orgs):
        block = f"B{_HEADER_ROW + 1}:{get_column_letter(len(headers))}{last}"
        sheet.conditional_formatting.add(block, _MEAN_SCALE)
    if grouped := grouped_line(meta, waves):
        sheet.cell(last + 2, 1, grouped)
    sheet.freeze_panes = sheet.cell(_HEADER_ROW + 1, 2)


def _field_sheet(sheet: Worksheet, tables: dict[str, pd.DataFrame], code: str, label: str, waves: Waves) -> None:
    fields = tables["field_results"][tables["field_results"]["field_code"] == code]
    items = tables["item_results"][tables["item_results"]["field_code"] == code]
    theme = fields["level"] == "thema"
    # the field's and its themes' rows head the sheet; their "answering" are the field's respondents
    field_rows = fields.assign(
        code=fields["field_code"].where(~theme, fields["field_code"] + " " + fields["theme_code"].fillna("")),
        label=("Thema " + fields["theme_label"].fillna("")).where(theme, "Handlungsfeld insgesamt"),
        kind=fields["level"].map({"handlungsfeld": "Handlungsfeld", "thema": "Thema"}),
        block=theme.astype(int),
        n_answered=fields["n_respondents"],
        n_answered_status=fields["n_respondents_status"],
    )
    item_rows = items.assign(
        code=items["item_code"], label=items["item_label"], kind=items["item_type"].map(ITEM_TYPES), block=2
    )
    rows = pd.concat([field_rows, item_rows], ignore_index=True)
    rows = rows.assign(_wave=rows["wave"].map(waves.rank), _org=org_rank(rows))
    rows = rows.sort_values(["_wave", "block", "code", "_org"])
    _heading(
        sheet,
        f"{code} {label}",
        "Handlungsfeld, Themen und Items nach Organisationsart und Welle (neueste zuerst); Mittelwert und "
        "Top-2-Anteil der gültigen Skalenantworten",
    )
    _table(sheet, rows, _result_columns(waves, with_theme=bool(fields["theme_code"].notna().any())), frozen_columns=3)


def _personal_sheet(sheet: Worksheet, items: pd.DataFrame, waves: Waves) -> None:
    rows = items.assign(code=items["item_code"], label=items["item_label"], kind=items["item_type"].map(ITEM_TYPES))
    rows = rows.assign(_wave=rows["wave"].map(waves.rank), _org=org_rank(rows)).sort_values(["_wave", "code", "_org"])
    _heading(
        sheet,
        PERSONAL,
        "Besondere Kategorien nach Art. 9 DSGVO: nur geschützte Zahlen; die Antwortverteilung steht im Blatt "
        "„Antwortverteilung“",
    )
    _table(sheet, rows, _result_columns(waves, with_theme=False), frozen_columns=3)


def _result_columns(waves: Waves, with_theme: bool) -> list[Column]:
    theme = [Column("Thema", "theme_label", width=22)] if with_theme else []
    return [
        Column("Welle", "wave_label", width=12),
        Column("Code", "code", width=12),
        Column("Bezeichnung", "label", width=60),
        *theme,
        Column("Art", "kind", width=14),
        Column("Organisationsart", "org_type_label", width=30),
        Column("Antwortende", "n_answered", "count", 12),
        Column("Gültige Skalenantworten", "n_valid", "count", 13),
        Column("Mittelwert", "mean", "mean", 11),
        Column("Top-2-Anteil", "top2_share", "share", 11),
        Column(f"Veränderung Mittelwert {waves.since()}", "mean_change", "change", 14),
        Column(f"Veränderung Top-2-Anteil {waves.since()} (Prozentpunkte)", "top2_change", "share_change", 16),
    ]


def _needs_sheet(sheet: Worksheet, needs: pd.DataFrame, waves: Waves) -> None:
    rows = needs.assign(
        _wave=needs["wave"].map(waves.rank),
        _org=org_rank(needs),
        _level=needs["level"].map({"handlungsfeld": 0, "item": 1}),
        level_label=needs["level"].map({"handlungsfeld": "Handlungsfeld", "item": "Item"}),
        field=_field_name(needs),
    ).sort_values(["_wave", "_org", "_level", "rank"])
    _heading(
        sheet,
        "Handlungsbedarfe",
        "Die schwächsten Ergebnisse je Welle und Organisationsart: Rang 1 = niedrigster Mittelwert (bei Gleichstand "
        "niedrigster Top-2-Anteil); nur veröffentlichte Mittelwerte",
    )
    columns = [
        Column("Welle", "wave_label", width=12),
        Column("Organisationsart", "org_type_label", width=30),
        Column("Ebene", "level_label", width=14),
        Column("Rang", "rank", "count", 7),
        Column("Code", "code", width=12),
        Column("Bezeichnung", "label", width=60),
        Column("Handlungsfeld", "field", width=40),
        Column("Mittelwert", "mean", "mean", 11),
        Column("Top-2-Anteil", "top2_share", "share", 11),
        Column("Gültige Skalenantworten", "n_valid", "count", 13),
    ]
    _table(sheet, rows, columns, frozen_columns=4)


def _distribution_sheet(sheet: Worksheet, distribution: pd.DataFrame, waves: Waves) -> None:
    """Counts of the questions without a scale; a scale item is summed up by its mean and top-2 share.

    All counts of the full cube would be some 40,000 rows: unreadable here, and slow to write with openpyxl.
    They are in the release's data files.
    """
    scale_items = set(distribution.loc[distribution["answer_value"].notna(), "item_code"])
    distribution = distribution[~distribution["item_code"].isin(scale_items)]
    rows = distribution.assign(
        field=_field_name(distribution).where(distribution["field_code"].notna(), PERSONAL),
        _wave=distribution["wave"].map(waves.rank),
        _org=org_rank(distribution),
        _personal=distribution["field_code"].isna(),
    ).sort_values(["_wave", "_personal", "field_code", "item_code", "_org", "answer_ordinal"])
    _heading(
        sheet,
        "Antwortverteilung der Ja/Nein- und Mehrfachauswahlfragen",
        "Anzahl der Antworten je Antwortmöglichkeit, Organisationsart und Welle; die Verteilung der Skalenfragen "
        "steht in den Datendateien der Veröffentlichung (Tabelle item_distribution) und als Abbildung im Bericht",
    )
    columns = [
        Column("Welle", "wave_label", width=12),
        Column("Handlungsfeld", "field", width=40),
        Column("Code", "item_code", width=12),
        Column("Item", "item_label", width=60),
        Column("Organisationsart", "org_type_label", width=30),
        Column("Antwort", "answer_label", width=26),
        Column("Anzahl", "n", "count", 10),
    ]
    _table(sheet, rows, columns, frozen_columns=3)


def _free_text_sheet(sheet: Worksheet, texts: pd.DataFrame, waves: Waves) -> None:
    rows = texts.assign(
        field=_field_name(texts),
        _wave=texts["wave"].map(waves.rank),
        _org=org_rank(texts),
    ).sort_values(["_wave", "field_code", "_org"])
    _heading(
        sheet,
        "Freitexte",
        "Personen mit einer Freitextantwort (z. B. zum dringendsten Handlungsbedarf) je Handlungsfeld; die Texte "
        "selbst bleiben intern",
    )
    columns = [
        Column("Welle", "wave_label", width=12),
        Column("Handlungsfeld", "field", width=44),
        Column("Organisationsart", "org_type_label", width=30),
        Column("Personen mit Freitextantwort", "n_texts", "count", 16),
    ]
    _table(sheet, rows, columns, frozen_columns=2)


def _legend_sheet(sheet: Worksheet, meta: dict, waves: Waves) -> None:
    _heading(sheet, "Legende", release_line(meta, waves), legend=False)
    _text_table(sheet, ("Zeichen / Begriff", "Bedeutung"), legend_entries(meta, waves), (20, 110))


def _method_sheet(sheet: Worksheet, meta: dict, waves: Waves) -> None:
    _heading(sheet, "Hinweise zur Methode", release_line(meta, waves), legend=False)
    _text_table(sheet, ("Thema", "Erläuterung"), method_notes(meta, waves), (30, 110))


def _heading(sheet: Worksheet, title: str, subtitle: str, legend: bool = True) -> None:
    sheet["A1"] = title
    sheet["A1"].font = Font(bold=True, size=14)
    sheet["A2"] = subtitle
    if legend:
        sheet["A3"] = legend_line()
        sheet["A3"].font = Font(italic=True, color="595959")


def _table(sheet: Worksheet, frame: pd.DataFrame, columns: Sequence[Column], frozen_columns: int) -> None:
    for index, column in enumerate(columns, start=1):
        cell = sheet.cell(_HEADER_ROW, index, column.header)
        cell.font, cell.fill, cell.border, cell.alignment = _BOLD, _HEADER_FILL, _HEADER_BORDER, _WRAP
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.row_dimensions[_HEADER_ROW].height = 45
    values = [frame[c.source].tolist() for c in columns]
    statuses = [frame[f"{c.source}_status"].tolist() if f"{c.source}_status" in frame else None for c in columns]
    first = _HEADER_ROW + 1
    for offset in range(len(frame)):
        row = first + offset
        for index, column in enumerate(columns):
            status = statuses[index][offset] if statuses[index] is not None else ""
            _put(sheet.cell(row, index + 1), values[index][offset], status, column.kind)
    last = first + len(frame) - 1
    end = get_column_letter(len(columns))
    sheet.freeze_panes = sheet.cell(first, frozen_columns + 1)
    sheet.auto_filter.ref = f"A{_HEADER_ROW}:{end}{max(last, first)}"
    for index, column in enumerate(columns, start=1):
        if column.kind == "mean" and last >= first:
            letter = get_column_letter(index)
            sheet.conditional_formatting.add(f"{letter}{first}:{letter}{last}", _MEAN_SCALE)


def _print_setup(sheet: Worksheet, meta: dict) -> None:
    """A4 landscape, fitted to the page width, the table's header repeated on every page, and the release
    on every page's header and footer, so a printed page still says what it is."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    if sheet.max_row >= _HEADER_ROW:
        sheet.print_title_rows = f"{_HEADER_ROW}:{_HEADER_ROW}"
    sheet.oddHeader.left.text = TITLE
    sheet.oddHeader.right.text = f"Veröffentlichung {meta['release_id']} vom {published_on(meta)}"
    sheet.oddFooter.left.text = sheet.title
    sheet.oddFooter.right.text = "Seite &P von &N"


def _put(cell: Cell, value: object, status: object, kind: str) -> None:
    if status in LEGEND:
        cell.value = status
        cell.alignment = _RIGHT
    elif value is None or pd.isna(value):
        return
    elif kind == "text":
        cell.value = str(value)
    else:
        cell.value = int(value) if kind == "count" else float(value) * (100 if kind == "share_change" else 1)
        cell.number_format = _FORMATS[kind]


def _text_table(
    sheet: Worksheet, headers: tuple[str, str], rows: list[tuple[str, str]], widths: tuple[int, int]
) -> None:
    for index, (header, width) in enumerate(zip(headers, widths, strict=True), start=1):
        cell = sheet.cell(_HEADER_ROW, index, header)
        cell.font, cell.fill, cell.border = _BOLD, _HEADER_FILL, _HEADER_BORDER
        sheet.column_dimensions[get_column_letter(index)].width = width
    for offset, (term, text) in enumerate(rows, start=1):
        row = _HEADER_ROW + offset
        sheet.cell(row, 1, term).font = _BOLD
        sheet.cell(row, 1).alignment = _WRAP
        sheet.cell(row, 2, text).alignment = _WRAP
    sheet.freeze_panes = sheet.cell(_HEADER_ROW + 1, 1)


def _field_name(frame: pd.DataFrame) -> pd.Series:
    """ "HF1 Management und Steuerung": the Handlungsfeld's code and label, as the sheets name it."""
    return frame["field_code"].fillna("") + " " + frame["field_label"].fillna("")
