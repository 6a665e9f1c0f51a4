-- reads: raw.records
-- writes: nothing
-- The repeat groups of each partner's form, as raw keeps them, with the number of responses holding each: ODK
-- Central links every repeat to its subtable (`<group>@odata.navigationLink`, the feed Submissions.<group>),
-- Kobo sends a repeat as an array of entries (its own metadata arrays start with "_"). No mapping reaches into
-- them: they are kept in raw only.
select
    records.partner_id,
    regexp_replace(field.key, '@odata\.navigationLink$', '') as repeat_group,
    count(distinct records.source_id) as responses
from raw.records as records, json_each(records.record::json) as field
where field.key like '%@odata.navigationLink'
    or (field.type = 'ARRAY' and not starts_with(field.key, '_'))
group by all
order by all
