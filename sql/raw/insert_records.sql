insert into raw.records (record_id, partner_id, source_id, page_id, ordinal, fetched_at, record_sha256, record)
select
    record_id,
    $partner_id,
    source_id,
    page_id,
    ordinal,
    $fetched_at,
    record_sha256,
    record::json
from batch_classified
where disposition = 'new'
