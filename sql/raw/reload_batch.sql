-- reads: raw.records, reload_candidates (temp table of raw/reload_plan)
-- writes: batch_classified
-- One slice of the reload candidates (one round, one source, one time zone), as if just fetched.
create or replace temp table batch_classified as
with chosen as (
    select record_id
    from reload_candidates
    where round = $round
        and source = $source
        and naive_timezone is not distinct from $naive_timezone
    order by fetched_at, ordinal, record_id
    limit $limit offset $offset
)

select
    raw.records.page_id,
    raw.records.ordinal,
    raw.records.source,
    raw.records.source_id,
    raw.records.submitted_at,
    raw.records.record::varchar as record,
    raw.records.record_sha256,
    raw.records.record_id,
    'new' as disposition
from raw.records
where raw.records.record_id in (select record_id from chosen)
