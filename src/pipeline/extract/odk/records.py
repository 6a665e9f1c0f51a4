"""What Central sends, read: a page of the OData feed taken apart into records, and times as Central writes them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from pipeline.errors import PayloadError
from pipeline.extract import RECORD_SCHEMA, http
from pipeline.extract.json_records import is_identifier, parsed, records_at

# the package's name, as before it was split: skipped submissions are reported under the connector's logger
_log = logging.getLogger("pipeline.extract.odk")

_PAGE_SQL = "create or replace temp table odk_page as select ?::json as doc"
_ENVELOPE_SQL = """
select
    json_type(doc, '$.value') as value_type,
    json_array_length(doc, '$.value') as n_rows,
    json_extract_string(doc, '$."@odata.nextLink"') as next_link,
    try_cast(json_extract_string(doc, '$."@odata.count"') as bigint) as total
from odk_page
"""
_ROWS_SQL = """
create or replace temp table odk_rows as
select
    row_number() over ()::bigint as ordinal,
    rec,
    json_extract_string(rec, '$.__id') as source_id,
    json_extract_string(rec, '$.__system.submissionDate') as submitted_at,
    json_extract_string(rec, '$.__system.updatedAt') as updated_at,
    json_extract_string(rec, '$.__system.deletedAt') as deleted_at,
    json_extract_string(rec, '$.__system.status') as status,
    json_extract_string(rec, '$.__system.reviewState') as review_state
from (select unnest(json_extract(doc, '$.value[*]')) as rec from odk_page)
"""
# Every value of the page's rows under its group path, with its position in the row as served. A GeoJSON object
# is not descended into: it is geolocation, and dropped whole. json_each names the children, so a key holding '"'
# or ending in a backslash is a key like any other (a JSON path built from it broke the whole page).
_LEAVES_SQL = """
create or replace temp table odk_leaves as
with recursive nodes (ordinal, key, position, value) as (
    select ordinal, '', []::ubigint[], rec
    from odk_rows
    union all
    select
        nodes.ordinal,
        case when nodes.key = '' then child.key else nodes.key || '/' || child.key end,
        list_append(nodes.position, child.id),
        child.value
    from nodes, json_each(nodes.value) as child
    where json_type(nodes.value) = 'OBJECT'
        and not (
            json_exists(nodes.value, '$.coordinates') and nodes.value ->> '$.type' in ('Point', 'LineString', 'Polygon')
        )
)
select
    ordinal,
    key,
    position,
    case when json_type(value) <> 'NULL' then value ->> '$' end as value
from nodes
where json_type(value) <> 'OBJECT'
"""
_REJECTED_SQL = """
select source_id
from odk_rows
where review_state = 'rejected' and deleted_at is null and status is null
order by ordinal
"""
_SKIPPED_SQL = """
select
    source_id,
    case when deleted_at is not null then 'deleted' else 'not decrypted: ' || status end as reason
from odk_rows
where deleted_at is not null or status is not null
order by ordinal
"""
_RECORDS_SQL = """
select
    r.ordinal,
    r.source_id,
    r.submitted_at,
    coalesce(
        to_json(map(
            list(l.key order by l.position) filter (where not list_contains(?, l.key)),
            list(l.value order by l.position) filter (where not list_contains(?, l.key))
        )),
        '{}'
    )::varchar as record
from odk_rows r
left join odk_leaves l using (ordinal)
where r.deleted_at is null and r.status is null and (? or r.review_state is distinct from 'rejected')
group by r.ordinal, r.source_id, r.submitted_at
order by r.ordinal
"""


@dataclass(frozen=True)
class _Parsed:
    """One page, taken apart: its records, where it leads, how many rows the listing has, its latest time."""

    records: pa.Table
    n_rows: int
    next_link: str | None
    total: int | None
    latest: str | None
    rejected: tuple[str, ...]
    links: frozenset[str]  # keys holding "@odata." (links to repeat tables): metadata, as they are seen


def parse_page(
    duck: duckdb.DuckDBPyConnection,
    partner_id: str,
    url: str,
    body: bytes,
    drop: tuple[str, ...],
    include_rejected: bool,
) -> _Parsed:
    """The page's envelope and records, all inside DuckDB: no Python loop over submissions (but over the
    submissions of a page holding text that is no Unicode, salvaged as json_records.parsed does)."""

    def parse(text: str) -> _Parsed:
        duck.execute(_PAGE_SQL, [text])
        [(value_type, n_rows, next_link, total)] = duck.execute(_ENVELOPE_SQL).fetchall()
        if value_type != "ARRAY":
            raise PayloadError(
                partner_id,
                f"{http.redact(url)} sent no 'value' list; is base_url an ODK Central server?",
            )
        duck.execute(_ROWS_SQL)
        duck.execute(_LEAVES_SQL)
        keys = [key for (key,) in duck.execute("select distinct key from odk_leaves").fetchall()]
        links = frozenset(key for key in keys if "@odata." in key)
        dropped = [key for key in keys if is_identifier(key, drop)]
        _report_skipped(partner_id, duck.execute(_SKIPPED_SQL).fetchall())
        records = duck.sql(_RECORDS_SQL, params=[dropped, dropped, include_rejected]).to_arrow_table()
        rejected = () if include_rejected else tuple(i for (i,) in duck.execute(_REJECTED_SQL).fetchall())
        [(latest,)] = duck.execute("select max(greatest(submitted_at, updated_at)) from odk_rows").fetchall()
        return _Parsed(records.cast(RECORD_SCHEMA), n_rows, next_link, total, latest, rejected, links)

    return parsed(partner_id, "page", body, parse, records_at("$.value[*]"), drop)


def _report_skipped(partner_id: str, skipped: list[tuple[str, str]]) -> None:
    if skipped:
        _log.warning(
            "partner %s: %d submissions not loaded (ODK Central lists them without answers): %s",
            partner_id,
            len(skipped),
            "; ".join(f"{source_id} ({reason})" for source_id, reason in skipped),
        )


def central_time(moment: datetime) -> str:
    """A time as Central writes it (JavaScript's toISOString): UTC, milliseconds, Z; such strings order as times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def earlier(latest: str | None, began: str | None) -> str | None:
    """The cursor to store: the latest time seen, but never past the moment the pull began."""
    return min(latest, began) if latest and began else latest
