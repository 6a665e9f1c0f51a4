-- Per item, organisation type and wave: who answered, and the mean and top-2 box of the scale answers.
-- "weiß nicht" and "keine Angabe" count as answered but carry no value, so they never enter a mean.
create or replace table marts.item_results as
with answered as (
    -- one row per respondent and item; only multiple choice has several (one per ticked option), so only
    -- its rows need reducing to respondents, which keeps the aggregation small
    select
        wave,
        org_type,
        item_code,
        value
    from marts.answers_in_scope
    where item_type <> 'multi'
    union all
    select
        wave,
        org_type,
        item_code,
        null::double as value
    from (
        select distinct wave, org_type, item_code, respondent_key
        from marts.answers_in_scope
        where item_type = 'multi'
    )
),

results as (
    select
        wave,
        org_type,
        item_code,
        count(*) as n_answered,
        count(value) as n_valid,
        avg(value) as mean,
        count(*) filter (where value >= 4) / nullif(count(value), 0) as top2_share
    from answered
    group by wave, org_type, item_code
)

select
    results.wave,
    core.waves.wave_label,
    results.org_type,
    core.org_types.org_type_label,
    core.items.field_number,
    core.items.field_code,
    core.items.field_label,
    core.items.theme_code,
    core.items.theme_label,
    results.item_code,
    core.items.item_label,
    core.items.item_type,
    results.n_answered,
    results.n_valid,
    results.mean,
    results.top2_share
from results
join core.waves on core.waves.wave = results.wave
join core.org_types on core.org_types.org_type = results.org_type
join core.items
    on core.items.item_code = results.item_code
    and core.items.instrument_version = core.waves.instrument_version
order by results.wave, results.org_type, core.items.field_number, results.item_code
