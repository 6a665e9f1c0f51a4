-- reads: core.responses, core.answers, core.items, core.answer_options, core.org_types, core.waves, core.partners
-- writes: nothing
-- What the marts and the analyst file are made of, one row per part: each reference table's rows hashed and
-- summed (order-free) with their count, the count of answers, and per wave ('wave:<wave>') its responses' rows.
-- Equal parts mean equal inputs: a run with nothing new skips the rebuild, and the marts are rebuilt only for the
-- waves whose part changed (pipeline.transform.marts). The answers are told by their count and by the responses'
-- rows: the loader replaces a response's answers only together with its row, which then has the batch's
-- updated_at, and an erasure or withdrawal deletes both. Hashing the responses instead of the answers (sixty
-- times fewer rows) keeps the check small beside any rebuild as the store grows.
select
    'wave:' || wave as part,
    count(*) || ':' || sum(hash(r)) as digest
from core.responses as r
group by wave
union all
select 'answers', count(*)::varchar from core.answers
union all
select 'items', count(*) || ':' || coalesce(sum(hash(i)), 0) from core.items as i
union all
select 'answer_options', count(*) || ':' || coalesce(sum(hash(o)), 0) from core.answer_options as o
union all
select 'org_types', count(*) || ':' || coalesce(sum(hash(t)), 0) from core.org_types as t
union all
select 'waves', count(*) || ':' || coalesce(sum(hash(w)), 0) from core.waves as w
union all
select 'partners', count(*) || ':' || coalesce(sum(hash(p)), 0) from core.partners as p
order by part
