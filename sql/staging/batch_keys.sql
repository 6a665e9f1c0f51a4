-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: batch_keys
-- The top-level keys of the batch's new versions, one row per response and key: the drift checks
-- (ops/record_coverage, staging/unmapped_fields) both read them, and parsing a batch's JSON is the costly part.
create or replace temp table batch_keys as
select
    record_id,
    unnest(json_keys(record::json)) as field
from batch_classified
where disposition = 'new'
