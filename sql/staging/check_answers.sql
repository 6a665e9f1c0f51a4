-- reads: batch_answers (staging/map_answers), batch_classified (raw/classify_batch or raw/reload_batch),
--     item_rules (registered by pipeline.load.loader: contract.validation.item_rules)
-- writes: nothing
-- The item checks of the contract, run where the answers are: one failure per response and item whose answer
-- breaks its item's check (a code not among the item's, a ticked option not among them, a free text too long).
-- The rules are the pandera schema's own checks (contract.validation.item_rules), so the schema written to
-- schemas/contract/ stays the contract's definition; field, value, check and reason read as pandera's failure
-- cases would. A text's length is counted in characters (code points), as Python counts it.
select
    batch_answers.record_id,
    batch_classified.source_id,
    batch_answers.item_code as field,
    batch_answers.value,
    item_rules.error as check_name,
    item_rules.error as reason
from batch_answers
join item_rules on item_rules.item_code = batch_answers.item_code
join batch_classified on batch_classified.record_id = batch_answers.record_id
where case item_rules.check_kind
    when 'isin' then not list_contains(item_rules.allowed, batch_answers.value)
    when 'options_among' then not list_has_all(item_rules.allowed, batch_answers.options)
    when 'str_length' then length(batch_answers.value) > item_rules.max_length
end
order by batch_classified.page_id, batch_classified.ordinal, batch_answers.item_code
