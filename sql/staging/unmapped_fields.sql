-- reads: batch_keys (staging/batch_keys)
-- writes: nothing
-- Partner fields in the batch's new versions that no mapping names and that are not known otherwise (the tool adds
-- them to every response, or the operator left them unmapped on purpose): reported as schema drift (with the
-- number of responses carrying each), kept in raw.
select
    field,
    count(*) as responses
from batch_keys
where not list_contains($partner_codes::varchar[], field)
    and not list_contains($known_fields::varchar[], field)
group by field
order by field
