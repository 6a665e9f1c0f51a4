-- Partner fields in the batch that no mapping names: reported as schema drift, kept in raw.
select distinct field
from (
    select unnest(json_keys(record::json)) as field
    from batch_classified
    where disposition = 'new'
)
where not list_contains($partner_codes::varchar[], field)
order by field
