-- Per Handlungsfeld, organisation type and wave: respondents who answered any item of the field, and the mean
-- and top-2 box over all scale answers given in it (each answer weighs the same).
create or replace table marts.field_results as
with respondents as (
    select
        wave,
        org_type,
        field_code,
        count(*) as n_respondents
    from (select distinct wave, org_type, field_code, respondent_key from marts.answers_in_scope)
    group by wave, org_type, field_code
),

scale as (
    select
        wave,
        org_type,
        field_code,
        count(value) as n_valid,
        avg(value) as mean,
        count(*) filter (where value >= 4) / nullif(count(value), 0) as top2_share
    from marts.answers_in_scope
    group by wave, org_type, field_code
),

fields as (
    select distinct field_code, field_label from core.items where field_code is not null
)

select
    respondents.wave,
    core.waves.wave_label,
    respondents.org_type,
    core.org_types.org_type_label,
    respondents.field_code,
    fields.field_label,
    respondents.n_respondents,
    scale.n_valid,
    scale.mean,
    scale.top2_share
from respondents
join scale using (wave, org_type, field_code)
join fields using (field_code)
join core.waves on core.waves.wave = respondents.wave
join core.org_types on core.org_types.org_type = respondents.org_type
order by respondents.wave, respondents.org_type, respondents.field_code
