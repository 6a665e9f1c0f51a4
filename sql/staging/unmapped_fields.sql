-- Partner fields in the batch that no mapping names: reported as schema drift, kept in raw.
select distinct field
from (
    select unnest(json_keys(record)) as field
    from batch_classified
    where disposition = 'new'
)
where field not in (select partner_code from partner_mapping)
order by field
