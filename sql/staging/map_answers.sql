-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch),
--     item_rules (registered by pipeline.load.loader: contract.validation.item_rules)
-- writes: batch_answers
-- Partner answers of the batch's new versions, keyed by instrument item and recoded to the codebook's codes, in
-- one statement from the stored JSON to long answers: the contract's checks (staging/check_answers) and the
-- load (staging/valid_answers) read this table, never a wide frame. Partner codes are only ever values here
-- (JSON paths bound as a list, parsed once), never identifiers. Where a partner renamed a group between form
-- versions, several codes map to one item and the one answered wins. Where a partner has one column per option of
-- a multiple choice ("ITEM=option"), the ticked options are joined into one answer; a column holding neither a
-- tick nor a blank passes its value on, so validation reports it instead of it vanishing. An "other" text column
-- ("ITEM=option:text") ticks its option when it holds any text. A multiple choice whose columns are all null was
-- not shown (no answer); one with a column present but nothing ticked (LimeSurvey's "") was shown and answered
-- with no option: its answer is the empty string.
-- A multiple choice's options are split at any whitespace Python's str.split() knows (RE2's \s alone misses the
-- no-break and other Unicode spaces) and recoded option by option; its answer is then the recoded options joined
-- by a space. The answer to the organisation type question (item_code org_type) has no rule: it passes as sent.
create or replace temp table batch_answers as
with extracted as (
    select
        record_id,
        unnest($item_codes::varchar[]) as item_code,
        unnest($options::varchar[]) as option_code,
        unnest($by_text::boolean[]) as by_text,
        unnest($alone::boolean[]) as alone,
        unnest(json_extract_string(record::json, $json_paths::varchar[])) as value
    from batch_classified
    where disposition = 'new'
),

valued as (
    select
        record_id,
        item_code,
        option_code is not null as is_option,
        value is not null as shown,
        case
            when option_code is null then nullif(trim(value), '')
            when by_text then case when trim(value) <> '' then option_code end
            when lower(trim(value)) in ('y', '1', 'true', 'x', 'ja', 'yes') then option_code
            when coalesce(lower(trim(value)), '') in ('', 'n', '0', 'false', 'nein', 'no') then null
            else trim(value)
        end as value
    from extracted
    where not alone
),

-- most items have one code of their own: their answer is that code's, with nothing to combine
mapped as (
    select record_id, item_code, nullif(trim(value), '') as value
    from extracted
    where alone
    union all
    select
        record_id,
        item_code,
        case
            when not bool_or(is_option) then max(value)
            when bool_or(shown) then coalesce(string_agg(value, ' ' order by value), '')
        end as value
    from valued
    group by record_id, item_code
),

recodes as (
    select item_code, unnest(recode_from) as sent, unnest(recode_to) as recoded
    from item_rules
    where item_type <> 'multi'
),

option_recodes as (
    select item_code, map(recode_from, recode_to) as recode
    from item_rules
    where item_type = 'multi' and cardinality(recode_from) > 0
),

typed as (
    select mapped.record_id, mapped.item_code, mapped.value, item_rules.item_type
    from mapped
    left join item_rules on item_rules.item_code = mapped.item_code
    where mapped.value is not null
),

split as (
    select
        typed.record_id,
        typed.item_code,
        typed.value,
        option_recodes.recode,
        list_filter(
            string_split_regex(
                typed.value,
                '[\s\x{0b}\x{1c}-\x{1f}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]+'
            ),
            lambda option: option <> ''
        ) as sent_options
    from typed
    left join option_recodes on option_recodes.item_code = typed.item_code
    where typed.item_type = 'multi'
),

options as (
    select
        record_id,
        item_code,
        value,
        recode is not null as recoded,
        case
            when recode is null then sent_options
            else list_transform(sent_options, lambda option: coalesce(map_extract_value(recode, option), option))
        end as options
    from split
)

select
    typed.record_id,
    typed.item_code,
    typed.item_type,
    null::varchar[] as options,
    coalesce(recodes.recoded, typed.value) as value
from typed
left join recodes on recodes.item_code = typed.item_code and recodes.sent = typed.value
where typed.item_type is distinct from 'multi'
union all
select
    record_id,
    item_code,
    'multi' as item_type,
    options,
    case when recoded then array_to_string(options, ' ') else value end as value
from options
