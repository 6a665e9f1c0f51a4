"""A file's rows (read into the temp table drop_rows) as records, page by page: partner codes from its header, one
statement."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import duckdb
import pyarrow as pa

from pipeline.extract import RECORD_SCHEMA


def partner_codes(con: duckdb.DuckDBPyConnection, header: list[str]) -> dict[str, str]:
    """Column of drop_rows → partner code: the header cell, made unique; an unnamed column is dropped when it
    is empty (a trailing separator) and called column_<n> otherwise."""
    names = [cell.replace("\ufeff", "").strip() for cell in header]
    unnamed = [i for i, name in enumerate(names) if not name]
    filled: dict[int, int] = {}
    if unnamed:
        counts = con.execute("select " + ", ".join(f"count(c{i})" for i in unnamed) + " from drop_rows").fetchall()[0]
        filled = dict(zip(unnamed, counts or (), strict=True))
    codes: dict[str, str] = {}
    taken: set[str] = set()
    for i, name in enumerate(names):
        if not name and not filled[i]:
            continue
        code = name or f"column_{i + 1}"
        unique, n = code, 1
        while unique in taken:
            n += 1
            unique = f"{code} ({n})"
        taken.add(unique)
        codes[f"c{i}"] = unique
    return codes


def select_records(
    con: duckdb.DuckDBPyConnection,
    id_col: str,
    submitted_col: str,
    kept: dict[str, str],
    date_formats: Iterable[str],
    rows_per_page: int,
) -> Iterator[pa.Table]:
    """drop_rows as RECORD_SCHEMA in one statement, rows_per_page rows at a time, so that a large export's records
    (about 1 KB of JSON per row) are never in memory whole while its pages load. Partner codes are bound values
    (JSON keys), never SQL identifiers; the column names c0, c1, ... are ours. kept: the columns that go into the
    record. The rows come as the caller takes them, until drop_rows is replaced."""
    pairs = ", ".join(f"?, {column}" for column in kept)
    reader = con.sql(
        f"""
        select
            row_number() over ()::bigint as ordinal,
            trim({id_col}) as source_id,
            coalesce(
                strftime(try_strptime(trim({submitted_col}), ?::varchar[]), '%Y-%m-%dT%H:%M:%S'),
                trim({submitted_col})
            ) as submitted_at,
            json_object({pairs})::varchar as record
        from drop_rows
        where coalesce({", ".join([id_col, *kept])}) is not null
        """,
        params=[list(date_formats), *kept.values()],
    ).to_arrow_reader(rows_per_page)
    return (pa.Table.from_batches([rows]).cast(RECORD_SCHEMA) for rows in reader)
