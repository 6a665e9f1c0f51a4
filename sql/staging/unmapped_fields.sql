-- Partner fields in the batch's new versions that no mapping names and the tool does not add to every response:
-- reported as schema drift (with the number of responses carrying each), kept in raw.
select
    field,
    count(*) as responses
from (
    select unnest(json_keys(record::json)) as field
    from batch_classified
    where disposition = 'new'
)
where not list_contains($partner_codes::varchar[], field)
    and not list_contains($metadata_fields::varchar[], field)
group by field
order by field
