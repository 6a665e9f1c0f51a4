-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: nothing
-- Fields of the batch's new versions that held text which is no Unicode (bytes that are no UTF-8, a lone
-- surrogate): extraction moved each, written with escapes, under the record's $undecodable key. One failure per
-- field, so the quarantine names each; json_each reads the field names as data, whatever they hold.
with marked as (
    select
        record_id,
        source_id,
        json_extract_string(record::json, $undecodable)::json as fields
    from batch_classified
    where disposition = 'new'
        and json_exists(record::json, $undecodable)
)

select
    marked.record_id,
    marked.source_id,
    field.key as field,
    field.value ->> '$' as value,
    'unicode_text' as check_name,
    'text is not valid Unicode (bytes that are no UTF-8, or a lone surrogate): the partner must correct it' as reason
from marked, json_each(marked.fields) as field
