-- Per Handlungsfeld, organisation type and wave: respondents who answered any item of the field, and the mean
-- and top-2 box over all scale answers given in it (each answer weighs the same).
create or replace table marts.field_results as
select
    answers.wave,
    core.waves.wave_label,
    answers.org_type,
    core.org_types.org_type_label,
    answers.field_code,
    any_value(core.items.field_label) as field_label,
    count(distinct answers.respondent_key) as n_respondents,
    count(answers.value) as n_valid,
    avg(answers.value) as mean,
    count(*) filter (where answers.value >= 4) / nullif(count(answers.value), 0) as top2_share
from marts.answers_in_scope as answers
join core.waves on core.waves.wave = answers.wave
join core.org_types on core.org_types.org_type = answers.org_type
join core.items
    on core.items.item_code = answers.item_code
    and core.items.instrument_version = answers.instrument_version
group by answers.wave, core.waves.wave_label, answers.org_type, core.org_types.org_type_label, answers.field_code
order by answers.wave, answers.org_type, answers.field_code
