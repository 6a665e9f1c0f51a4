-- reads: core.answers, leaving (temp view of pipeline.load.loader), ops.answers_since_marts, ops.built_from
-- writes: ops.answers_since_marts
-- Before the answers of the respondents in `leaving` are replaced or removed: the answers the marts counted
-- (those a respondent had at the last build, so only for a respondent not changed since) are kept with sign -1,
-- and any answers added since are forgotten (the next build adds what the respondent has then).
insert into ops.answers_since_marts
select
    -1 as sign,
    respondent_key,
    item_code,
    answer_code,
    value,
    answer_text,
    wave,
    org_type,
    record_key
from core.answers
where respondent_key in (select respondent_key from leaving)
    and respondent_key not in (select respondent_key from ops.answers_since_marts)
    and exists (select 1 from ops.built_from where artefact = 'marts answers');

delete from ops.answers_since_marts
where sign = 1
    and respondent_key in (select respondent_key from leaving);
