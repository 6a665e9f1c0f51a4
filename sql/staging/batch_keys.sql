-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: batch_keys
-- The top-level keys of the batch's new versions, one row per response and key, read from the JSON once for both
-- drift checks (ops/record_coverage, staging/unmapped_fields).
create or replace temp table batch_keys as
select
    record_id,
    unnest(json_keys(record::json)) as field
from batch_classified
where disposition = 'new'
