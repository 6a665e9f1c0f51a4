-- Per item, organisation type and wave: who answered, and the mean and top-2 box of the scale answers.
-- "weiß nicht" and "keine Angabe" count as answered but carry no value, so they never enter a mean.
create or replace table marts.item_results as
with per_respondent as (
    select
        wave,
        org_type,
        item_code,
        respondent_key,
        max(value) as value
    from marts.answers_in_scope
    group by all
)

select
    per_respondent.wave,
    core.waves.wave_label,
    per_respondent.org_type,
    core.org_types.org_type_label,
    core.items.field_number,
    core.items.field_code,
    core.items.field_label,
    core.items.theme_code,
    core.items.theme_label,
    per_respondent.item_code,
    core.items.item_label,
    core.items.item_type,
    count(*) as n_answered,
    count(per_respondent.value) as n_valid,
    avg(per_respondent.value) as mean,
    count(*) filter (where per_respondent.value >= 4) / nullif(count(per_respondent.value), 0) as top2_share
from per_respondent
join core.waves on core.waves.wave = per_respondent.wave
join core.org_types on core.org_types.org_type = per_respondent.org_type
join core.items
    on core.items.item_code = per_respondent.item_code
    and core.items.instrument_version = core.waves.instrument_version
group by all
order by per_respondent.wave, per_respondent.org_type, core.items.field_number, per_respondent.item_code
