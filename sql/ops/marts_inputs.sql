-- reads: core.responses, core.answers, core.items, core.answer_options, core.org_types, core.waves, core.partners
-- writes: nothing
-- What the marts and the analyst file are made of, as one text: every row of the core tables they read, hashed
-- and summed per table (order-free), with the row counts. Equal texts mean equal inputs, so a run with nothing
-- new skips rebuilding them (pipeline.transform.marts). The answers are told by their count and by the responses'
-- rows: the loader replaces a response's answers only together with its row, which then has the batch's
-- updated_at, and an erasure or withdrawal deletes both. Hashing the responses instead of the answers (sixty
-- times fewer rows) keeps the check small beside any rebuild as the store grows.
select concat_ws('|',
    (select count(*) || ':' || coalesce(sum(hash(r)), 0) from core.responses as r),
    (select count(*) from core.answers),
    (select count(*) || ':' || coalesce(sum(hash(i)), 0) from core.items as i),
    (select count(*) || ':' || coalesce(sum(hash(o)), 0) from core.answer_options as o),
    (select count(*) || ':' || coalesce(sum(hash(t)), 0) from core.org_types as t),
    (select count(*) || ':' || coalesce(sum(hash(w)), 0) from core.waves as w),
    (select count(*) || ':' || coalesce(sum(hash(p)), 0) from core.partners as p)
)
