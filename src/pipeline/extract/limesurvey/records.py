"""What LimeSurvey exports, read: a decoded JSON export of responses as record columns, inside DuckDB."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.errors import PayloadError
from pipeline.extract import RECORD_SCHEMA
from pipeline.extract.json_records import is_identifier, parsed

NOT_DATESTAMPED = "1980-01-01 00:00:00"  # LimeSurvey's submitdate where a survey records no dates


def export_records(con: duckdb.DuckDBPyConnection, partner_id: str, export: bytes, drop: Iterable[str]) -> pa.Table:
    """Records of a decoded JSON export, in one statement per step inside DuckDB (no loop over responses).

    Rows wrapped under their id by older servers are unwrapped (the id joins the row). submitted_at is
    submitdate as sent, or datestamp where submitdate is LimeSurvey's 1980 date for surveys without dates.
    Identifier keys are removed with a JSON merge patch, as in json_records, and an export holding text that
    is no Unicode in some responses is salvaged as json_records.parsed does.
    """
    drop = frozenset(drop)

    def parse(text: str) -> pa.Table:
        con.execute("create or replace temp table export as select ?::json as doc", [text])
        (kind,) = con.execute("select json_type(doc, '$.responses') from export").fetchone()  # type: ignore[misc]
        if kind != "ARRAY":
            raise PayloadError(partner_id, "the export holds no 'responses' list")
        con.execute(
            """
            create or replace temp table recs as
            with listed as (
                select unnest(json_extract(doc, '$.responses[*]')) as row from export
            )
            select
                case
                    -- the row is the target of the patch, not the patch: a patch's nulls would delete
                    -- the columns of questions not shown
                    when json_extract(row, '$.id') is null and len(json_keys(row)) = 1
                        then json_merge_patch(json_extract(row, '$.*')[1], json_object('id', json_keys(row)[1]))
                    else row
                end as rec
            from listed
            """
        )
        keys = [k for (k,) in con.execute("select distinct unnest(json_keys(rec)) from recs").fetchall()]
        patch = json.dumps({k: None for k in keys if is_identifier(k, drop)})
        return con.sql(
            """
            select
                row_number() over ()::bigint as ordinal,
                json_extract_string(rec, '$.id') as source_id,
                case
                    when json_extract_string(rec, '$.submitdate') = ?
                        then nullif(json_extract_string(rec, '$.datestamp'), '')
                    else json_extract_string(rec, '$.submitdate')
                end as submitted_at,
                json_merge_patch(rec, ?::json)::varchar as record
            from recs
            """,
            params=[NOT_DATESTAMPED, patch],
        ).to_arrow_table()

    return parsed(partner_id, "export", export, parse, _responses, drop).cast(RECORD_SCHEMA)


def _responses(document: dict[str, Any]) -> list[Any]:
    """The responses of a parsed export as export_records reads them: a row wrapped under its id unwrapped."""
    rows = document["responses"]
    return [
        next(iter(row.values())) if isinstance(row, dict) and "id" not in row and len(row) == 1 else row for row in rows
    ]
