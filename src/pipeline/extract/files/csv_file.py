"""A CSV export as German Excel and the survey tools write it: its encoding and separator found, read by DuckDB."""

from __future__ import annotations

import codecs
import csv
import io
import re
from pathlib import Path

import duckdb

from pipeline.errors import PayloadError

DELIMITERS = (";", ",", "\t")  # `;` first: it wins a tie, as German Excel writes it
# Phrases of DuckDB's CSV errors that say where and what without quoting cell content.
_CSV_PROBLEMS = re.compile(
    r"CSV Error on Line: \d+|Expected Number of Columns: \d+ Found: \d+|Value with unterminated quote found"
    r"|Maximum line size of \d+ bytes exceeded|The CSV Parser state machine reached an invalid state"
)
# The header row: quoted cells may hold separators and line breaks; what follows it is the row terminator.
_HEADER_ROW = re.compile(r'(?:[^"\r\n]|"(?:[^"]|"")*")*(\r\n|\n|\r)?')


def decode(partner_id: str, name: str, body: bytes, encoding: str) -> str:
    """The text of a CSV file: a byte order mark decides, then the configured encoding, or UTF-8 and, failing
    that, Windows-1252."""
    if body.startswith(codecs.BOM_UTF8):
        tried = ["utf-8-sig"]
    elif body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        tried = ["utf-16"]
    else:
        tried = ["utf-8", "cp1252"] if encoding == "auto" else [encoding]
    for codec in tried:
        try:
            return body.decode(codec).lstrip("\ufeff")
        except UnicodeDecodeError as exc:
            error = exc
    raise PayloadError(
        partner_id,
        f"file {name} is not {' or '.join(tried)} text (byte {error.start}); set encoding in the partner's "
        "connector settings or ask the partner to export as 'CSV UTF-8'",
    ) from error


def csv_rows(
    con: duckdb.DuckDBPyConnection, partner_id: str, name: str, text: str, delimiter: str, scratch: Path
) -> list[str] | None:
    """Load the CSV text's rows into drop_rows; returns its header row (None for an empty file)."""
    if not text.strip():
        return None
    head = _HEADER_ROW.match(text)
    header_text, terminator = head.group(0), head.group(1) or "\n"  # type: ignore[union-attr]
    if head.group(1) is None and head.end() < len(text):  # type: ignore[union-attr]
        raise PayloadError(partner_id, f"file {name}: a quote in the header row is never closed; ask for a new export")
    if not header_text.strip():
        raise PayloadError(partner_id, f"file {name}: the first line is empty; the header row must come first")
    delimiter = delimiter if delimiter != "auto" else _sniff(header_text)
    header = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=delimiter), [])
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(header))) + "}"
    path = scratch / "drop.csv"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        con.execute(
            "create or replace temp table drop_rows as select * from read_csv(?, delim = ?, quote = '\"', "
            f"escape = '\"', new_line = ?, header = true, auto_detect = false, columns = {columns})",
            [str(path), delimiter, terminator.encode("unicode_escape").decode()],
        )
    except duckdb.Error as exc:
        raise PayloadError(
            partner_id, f"file {name} is not a readable CSV ({_csv_problem(exc)}); ask the partner to export it again"
        ) from exc
    rows = con.execute("select count(*) from drop_rows").fetchall()[0][0]
    if not rows and text[len(header_text) :].strip():
        raise PayloadError(partner_id, f"file {name}: no row could be read past the header; ask for a new export")
    return header


def _sniff(header_text: str) -> str:
    """The separator that splits the header row (quotes respected) into the most columns; `;` on a tie."""
    widths = {d: len(next(csv.reader(io.StringIO(header_text, newline=""), delimiter=d), [])) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: widths[d])


def _csv_problem(exc: duckdb.Error) -> str:
    """Where and what, in DuckDB's words: only the phrases known to carry no cell content (the offending line
    that DuckDB quotes may name a person)."""
    said = dict.fromkeys(_CSV_PROBLEMS.findall(str(exc)))
    return "; ".join(said) or type(exc).__name__
