"""The quarantine, for the operator and the partners: what was rejected and why, and loading it again once fixed."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Literal

import openpyxl
import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from pipeline import db
from pipeline.context import Context
from pipeline.contract.codebook import Codebook
from pipeline.contract.validation import recode_by_item
from pipeline.load.loader import reload_partner
from pipeline.registry import ORG_TYPE, Partner

# Reasons as partners read them (contract.py writes them in English for the operator and the logs).
_GERMAN = [
    (r"^answer code not among (.*)$", r"Antwortcode nicht zulässig (zulässig: \1)"),
    (r"^option not among (.*)$", r"Option nicht zulässig (zulässig: \1)"),
    (r"^organisation type not among (.*)$", r"Organisationstyp nicht zulässig (zulässig: \1)"),
    (r"^organisation type missing$", "Organisationstyp fehlt"),
    (r"^free text longer than (\d+) characters$", r"Freitext länger als \1 Zeichen"),
    (r"^submission time missing or not a date$", "Abgabezeitpunkt fehlt oder ist kein Datum"),
    (r"^submitted outside every survey wave's window$", "Abgabe außerhalb jedes Erhebungszeitraums"),
    (r"^submitted in the future$", "Abgabezeitpunkt liegt in der Zukunft"),
    (r"^the response has no id$", "Die Antwort hat keine ID"),
    (r"^the response id occurs twice in one batch$", "Die Antwort-ID kommt doppelt vor"),
    (
        r"^text is not valid Unicode .*$",
        "Text ist kein gültiges Unicode (Bytes, die kein UTF-8 sind, oder ein einzelnes Surrogat); bitte korrigieren",
    ),
]
EXPORT_COLUMNS = {
    "source_id": "Antwort-ID",
    "partner_field": "Frage (Ihr Code)",
    "field": "Item (ChancenCheckLU)",
    "value": "Wert",
    "grund": "Grund",
    "quarantined_at": "Zurückgewiesen am",
    "survey": "Umfrage",
}
# Rejections of a response as a whole, by the field checked: the tool's field it concerns (see the connectors'
# response_fields) and what partners call it. A response outside every wave was rejected for its submission time.
_RESPONSE_FIELDS = {
    "source_id": ("source_id", "Antwort-ID"),
    "submitted_at": ("submitted_at", "Abgabezeitpunkt"),
    "wave": ("submitted_at", "Abgabezeitpunkt"),
}
# Reasons that name the codes an item allows; the export names them as the partner sends them.
_ALLOWED = r"^((?:answer code|option|organisation type) not among ).*$"
ExportFormat = Literal["csv", "xlsx"]
# Excel column widths in characters: wide enough for the usual value, never a screen wide for a long free text.
_WIDTH_MIN, _WIDTH_MAX = 10, 60
_CELL_MAX = 32_767  # characters an Excel cell holds; a longer rejected free text is cut, marked with "…"


def open_rejections(ctx: Context, partner_id: str | None = None) -> pd.DataFrame:
    con = ctx.connect()
    try:
        return db.run(con, ctx.settings.sql_dir, "ops/quarantine_list", {"partner_id": partner_id}).df()
    finally:
        con.close()


def german_reason(reason: str) -> str:
    for pattern, german in _GERMAN:
        if re.match(pattern, reason):
            return re.sub(pattern, german, reason)
    return reason


def export_for_partner(ctx: Context, partner_id: str, path: Path, fmt: ExportFormat = "csv") -> int:
    """Write a partner's open rejections in the partner's language, so it can be sent back as it is: its own
    question codes (the column its tool sends the id or the submission time in, for a rejection of those), the
    answer codes allowed as it sends them (before the registry's recode), reasons in German. As CSV for German
    Excel (UTF-8 with BOM, ';') or as an Excel workbook (header row frozen, columns sized, every value as text).
    Returns the number of rows."""
    codebook = ctx.codebook
    partner = ctx.registry.partner(partner_id)
    rows = open_rejections(ctx, partner.id)
    theirs = partner.connector.response_fields()
    response_fields = {field: (theirs[key], label) for field, (key, label) in _RESPONSE_FIELDS.items()}
    allowed = rows["field"].map(_allowed_codes(partner, codebook))
    names_codes = allowed.notna() & rows["reason"].str.match(_ALLOWED)
    reason = rows["reason"].where(~names_codes, rows["reason"].str.replace(_ALLOWED, r"\1", regex=True) + allowed)
    rows = rows.assign(
        partner_field=rows["field"]
        .map(
            {
                **{item: ", ".join(codes) for item, codes in partner.question_codes().items()},
                **{f: code for f, (code, _) in response_fields.items()},
            }
        )
        .fillna(""),
        field=rows["field"].map({f: label for f, (_, label) in response_fields.items()}).fillna(rows["field"]),
        grund=reason.map(german_reason),
        # the survey, form or folder the response came from: a partner with one per wave has a response 1 in each
        survey=rows["source"].fillna(""),
        quarantined_at=rows["quarantined_at"].dt.tz_convert(ctx.settings.timezone).dt.tz_localize(None),
    )
    out = rows[list(EXPORT_COLUMNS)].rename(columns=EXPORT_COLUMNS)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        _write_xlsx(out, path)
    else:
        when = EXPORT_COLUMNS["quarantined_at"]
        texts = {name: _defused(out[name]) for name in out.columns if name != when}
        out.assign(**texts, **{when: out[when].dt.strftime("%d.%m.%Y %H:%M")}).to_csv(
            path, sep=";", encoding="utf-8-sig", index=False
        )
    return len(out)


def _defused(column: pd.Series) -> pd.Series:
    """Partner values as Excel shows them, never as formulas: a cell starting with = + - @ tab or CR gets a
    leading apostrophe (OWASP, CSV injection). Plain numbers such as -9 stay as they are: no formula starts so."""
    text = column.astype("string")
    formula = text.str.match(r"[=+\-@\t\r]") & ~text.str.fullmatch(r"[+-]?\d+(?:[.,]\d+)?")
    return text.mask(formula.fillna(False), "'" + text)


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """One sheet, bold frozen header with a filter, German date-times. Partners' values stay text: one that
    starts with '=' is never a formula, and characters a workbook cannot hold become U+FFFD."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Zurückgewiesen"
    sheet.append(list(frame.columns))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    when = list(frame.columns).index(EXPORT_COLUMNS["quarantined_at"]) + 1
    for row in frame.itertuples(index=False):
        sheet.append([_text(v) if i != when else v.to_pydatetime() for i, v in enumerate(row, start=1)])
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if cell.column == when:
                cell.number_format = "DD.MM.YYYY HH:MM"
            else:
                cell.data_type = "s"
                cell.alignment = Alignment(vertical="top")
    for i, name in enumerate(frame.columns, start=1):
        longest = max([len(name), *(len(str(v)) for v in frame[name] if v is not None)])
        sheet.column_dimensions[get_column_letter(i)].width = min(max(longest + 2, _WIDTH_MIN), _WIDTH_MAX)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    book.save(path)


def _text(value: object) -> str:
    if value is None or pd.isna(value):  # type: ignore[arg-type]
        return ""
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))
    return text if len(text) <= _CELL_MAX else text[: _CELL_MAX - 1] + "…"


def _allowed_codes(partner: Partner, codebook: Codebook) -> dict[str, str]:
    """Item code (and ORG_TYPE) → the answer codes it allows as the partner sends them: each instrument code
    (organisation type) as the partner's recode spells it (all its spellings), else as it is."""
    tables = recode_by_item(partner.recode, codebook)
    allowed = {
        item.code: _spelt(tables.get(item.code, {}), [o.code for o in codebook.options_of(item)])
        for item in codebook.items
        if item.type != "text"
    }
    asked = partner.asked_org_type
    allowed[ORG_TYPE] = _spelt(asked.recode if asked else {}, [o.code for o in codebook.org_types])
    return allowed


def _spelt(recode: dict[str, str], codes: list[str]) -> str:
    """The codes as a partner's recode spells them, in the codebook's order."""
    spellings: dict[str, list[str]] = {}
    for source, code in recode.items():
        spellings.setdefault(code, []).append(source)
    return " ".join(s for code in codes for s in spellings.get(code, [code]))


def replay(ctx: Context, partner_ids: list[str] | None = None) -> dict[str, tuple[int, int, int]]:
    """Check the quarantined versions again with today's codebook and registry: those that pass load and leave
    quarantine, the others stay with fresh reasons. Returns per partner (still quarantined, inserted, updated)."""
    run_id = f"replay-{uuid.uuid4().hex[:12]}"
    con = ctx.connect()
    try:
        return {
            pid: reload_partner(con, ctx, pid, True, run_id)
            for pid in partner_ids or [p.id for p in ctx.registry.partners]
        }
    finally:
        con.close()
