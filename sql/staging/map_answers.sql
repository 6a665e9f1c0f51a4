-- Partner answers of the batch's new versions, keyed by instrument item. Partner codes are only ever values
-- here (JSON paths bound from partner_mapping), never identifiers. Where a partner renamed a group between
-- form versions, several codes map to one item and the one answered wins.
select
    batch_classified.record_id,
    partner_mapping.item_code,
    max(nullif(trim(json_extract_string(batch_classified.record, partner_mapping.json_path)), '')) as value
from batch_classified
cross join partner_mapping
where batch_classified.disposition = 'new'
group by batch_classified.record_id, partner_mapping.item_code
