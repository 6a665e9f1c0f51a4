-- Partner answers of the batch's new versions, keyed by instrument item. Partner codes are only ever values
-- here (JSON paths bound as a list, parsed once), never identifiers. Where a partner renamed a group between
-- form versions, several codes map to one item and the one answered wins.
with extracted as (
    select
        record_id,
        unnest($item_codes::varchar[]) as item_code,
        unnest(json_extract_string(record::json, $json_paths::varchar[])) as value
    from batch_classified
    where disposition = 'new'
)

select
    record_id,
    item_code,
    max(nullif(trim(value), '')) as value
from extracted
group by record_id, item_code
