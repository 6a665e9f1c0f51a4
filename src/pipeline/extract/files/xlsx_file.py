"""An XLSX export: its first worksheet's cells as the text a CSV export would hold."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from datetime import time as clock

import duckdb
import openpyxl
import pyarrow as pa
from openpyxl.utils.exceptions import InvalidFileException

from pipeline.errors import PayloadError


def xlsx_rows(
    con: duckdb.DuckDBPyConnection, partner_id: str, name: str, body: bytes, decimal: str
) -> list[str] | None:
    """Load the first worksheet's rows into drop_rows; returns its header row (None for an empty sheet)."""
    try:
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise PayloadError(
            partner_id,
            f"file {name} is not a readable XLSX workbook ({type(exc).__name__}); ask the partner to save it "
            "again as Excel-Arbeitsmappe (*.xlsx)",
        ) from exc
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [_cell(v, decimal) or "" for v in next(rows, ())]
        data = [[_cell(v, decimal) for v in row] for row in rows]
    finally:
        book.close()
    if not header:
        return None
    width = max([len(header), *(len(row) for row in data)])
    header += [""] * (width - len(header))
    columns = [[row[i] if i < len(row) else None for row in data] for i in range(width)]
    table = pa.table({f"c{i}": pa.array(column, pa.string()) for i, column in enumerate(columns)})
    con.register("drop_sheet", table)
    try:
        con.execute("create or replace temp table drop_rows as select * from drop_sheet")
    finally:
        con.unregister("drop_sheet")
    return header


def _cell(value: object, decimal: str) -> str | None:
    """A cell as the text a CSV export would hold."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value).replace(".", decimal)
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date | clock):
        return value.isoformat()
    return str(value)
