-- reads: core.responses, core.answers, core.items, core.answer_options, core.org_types, core.waves, core.partners
-- writes: nothing
-- What the marts and the analyst file are made of, as one text: every row of the core tables they read, hashed
-- and summed per table (order-free), with the row counts. Equal texts mean equal inputs, so a run with nothing
-- new skips rebuilding them (pipeline.transform.marts). A full scan, but of hashes only: a small fraction of a rebuild.
select concat_ws('|',
    (select count(*) || ':' || coalesce(sum(hash(r)), 0) from core.responses as r),
    (select count(*) || ':' || coalesce(sum(hash(a)), 0) from core.answers as a),
    (select count(*) || ':' || coalesce(sum(hash(i)), 0) from core.items as i),
    (select count(*) || ':' || coalesce(sum(hash(o)), 0) from core.answer_options as o),
    (select count(*) || ':' || coalesce(sum(hash(t)), 0) from core.org_types as t),
    (select count(*) || ':' || coalesce(sum(hash(w)), 0) from core.waves as w),
    (select count(*) || ':' || coalesce(sum(hash(p)), 0) from core.partners as p)
)
