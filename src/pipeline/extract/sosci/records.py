"""A SoSci page made records: the filters and checkbox recoding in one DuckDB statement, and the cursor's time."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from pipeline.errors import PartnerError, PayloadError
from pipeline.extract import RECORD_SCHEMA
from pipeline.extract.json_records import UNDECODABLE, key_path, problem

if TYPE_CHECKING:
    from pipeline.extract.sosci.settings import SosciSettings

SERVER_TIME = "%Y-%m-%d %H:%M:%S"
OVERLAP = timedelta(seconds=60)

FILTER_SQL = """
with kept as (
    select ordinal, source_id, submitted_at, record::json as rec
    from sosci_page
    -- a case holding text that is no Unicode is kept whatever it says, to be quarantined with its fields named
    where json_exists(record, $undecodable)
        or (
            ($questionnaire is null or json_extract_string(record, '$.QUESTNNR') = $questionnaire)
            and ($include_pretest or coalesce(json_extract_string(record, '$.MODE'), '') <> 'pretest')
            and (not $finished_only or json_extract_string(record, '$.FINISHED') = '1')
        )
),
-- each case's fields read once (json_each), not once per field: a missing code becomes null, a checkbox
-- variable of a multiple choice (ITEM_01: 2 ticked, 1 not) true or false
changed as (
    select
        kept.ordinal,
        to_json(map(
            list(field.key order by field.id),
            list(
                case
                    when list_contains($missing_codes, field.value ->> '$') then null
                    when field.value ->> '$' = '2' then 'true'::json
                    when field.value ->> '$' = '1' then 'false'::json
                end
                order by field.id
            )
        )) as patch
    from kept, json_each(kept.rec) as field
    where list_contains($missing_codes, field.value ->> '$')
        or (list_contains($multiple_choice, split_part(field.key, '_', 1))
            and regexp_full_match(split_part(field.key, '_', 2), '[0-9]+'))
    group by kept.ordinal
)
select
    row_number() over (order by kept.ordinal)::bigint as ordinal,
    kept.source_id,
    kept.submitted_at,
    json_merge_patch(kept.rec, coalesce(changed.patch, '{}'::json))::varchar as record
from kept
left join changed on changed.ordinal = kept.ordinal
order by kept.ordinal
"""


def filtered(partner_id: str, config: SosciSettings, duck: duckdb.DuckDBPyConnection, records: pa.Table) -> pa.Table:
    """Records of the configured questionnaire, mode and completion, missing codes and checkboxes resolved."""
    duck.register("sosci_page", records)
    try:
        table = duck.sql(
            FILTER_SQL,
            params={
                "questionnaire": config.questionnaire,
                "include_pretest": config.include_pretest,
                "finished_only": config.finished_only,
                "missing_codes": [str(code) for code in config.missing_codes],
                "multiple_choice": list(config.multiple_choice),
                "undecodable": key_path(UNDECODABLE),
            },
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise PayloadError(partner_id, f"cases are not the JSON expected ({problem(exc)})") from exc
    finally:
        duck.unregister("sosci_page")
    return table.cast(RECORD_SCHEMA)


def changed_since(partner_id: str, cursor: str | None) -> str | None:
    """The `changed` parameter for a cursor: its server time minus OVERLAP, in the API's ISO form."""
    if cursor is None:
        return None
    try:
        stamp = datetime.strptime(json.loads(cursor)["changed"], SERVER_TIME)
    except (ValueError, TypeError, KeyError):
        raise PartnerError(
            partner_id,
            f'the stored cursor {cursor[:80]!r} is not SoSci\'s {{"changed": "YYYY-MM-DD hh:mm:ss"}}: if the '
            "partner changed tools, delete its row in ops.cursors to pull everything again",
        ) from None
    return (stamp - OVERLAP).isoformat(timespec="seconds")
