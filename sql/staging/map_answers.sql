-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: nothing
-- Partner answers of the batch's new versions, keyed by instrument item. Partner codes are only ever values
-- here (JSON paths bound as a list, parsed once), never identifiers. Where a partner renamed a group between
-- form versions, several codes map to one item and the one answered wins. Where a partner has one column per
-- option of a multiple choice ("ITEM=option"), the ticked options are joined into one answer; a column holding
-- neither a tick nor a blank passes its value on, so validation reports it instead of it vanishing. An "other"
-- text column ("ITEM=option:text") ticks its option when it holds any text. A multiple choice whose columns
-- are all null was not shown (no answer); one with a column present but nothing ticked (LimeSurvey's "") was
-- shown and answered with no option: its answer is the empty string.
with extracted as (
    select
        record_id,
        unnest($item_codes::varchar[]) as item_code,
        unnest($options::varchar[]) as option_code,
        unnest($by_text::boolean[]) as by_text,
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
)

select
    record_id,
    item_code,
    case
        when not bool_or(is_option) then max(value)
        when bool_or(shown) then coalesce(string_agg(value, ' ' order by value), '')
    end as value
from valued
group by record_id, item_code
