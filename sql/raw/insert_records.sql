-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: raw.records
insert into raw.records (
    record_id, partner_id, source, source_id, page_id, ordinal, fetched_at, record_sha256, record, submitted_at
)
select
    record_id,
    $partner_id,
    source,
    source_id,
    page_id,
    ordinal,
    $fetched_at,
    record_sha256,
    record::json,
    submitted_at
from batch_classified
where disposition = 'new'
