-- reads: core.items, marts.answers_in_scope (marts/010_answers_in_scope),
--     marts.item_groups (marts/005_reference), marts.org_types (marts/005_reference),
--     marts.wave_order (marts/005_reference)
-- writes: marts.item_results
-- Per item, organisation type and wave: who answered, and the mean and top-2 box of the scale answers, with
-- the change since the previous wave; the margin over organisation types is the org_type 'insgesamt'.
-- "weiß nicht" and "keine Angabe" count as answered but carry no value, so they never enter a mean.
-- n_answered has its cell key (the sum of its respondents' record keys, modulo 2^20).
create or replace table marts.item_results as
with ticking as (
    -- multiple choice has a row per ticked option; its respondents are counted once
    select distinct
        wave,
        org_type,
        item_code,
        respondent_key,
        record_key
    from marts.answers_in_scope
    where item_type = 'multi'
),

answered as (
    -- one row per respondent and item: only multiple choice needed reducing, which keeps the aggregation small
    select
        wave,
        org_type,
        item_code,
        value,
        record_key
    from marts.answers_in_scope
    where item_type in ('scale', 'yesno')
    union all
    select
        wave,
        org_type,
        item_code,
        null::double as value,
        record_key
    from ticking
),

aggregated as (
    select
        wave,
        org_type,
        item_code,
        count(*) as n_answered,
        count(value) as n_valid,
        coalesce(sum(value), 0) as value_sum,
        count(*) filter (where value >= 4) as n_top2,
        (sum(record_key) % 1048576)::integer as n_answered_cell_key
    from marts.with_margin(answered)
    group by wave, org_type, item_code
),

results as (
    -- every group, answered or not (an item nobody of a type answered has 0 and no mean)
    select
        groups.wave,
        groups.org_type,
        groups.item_code,
        coalesce(aggregated.n_answered, 0) as n_answered,
        coalesce(aggregated.n_valid, 0) as n_valid,
        coalesce(aggregated.value_sum, 0) as value_sum,
        coalesce(aggregated.n_top2, 0) as n_top2,
        coalesce(aggregated.n_answered_cell_key, 0) as n_answered_cell_key,
        aggregated.value_sum / nullif(aggregated.n_valid, 0) as mean,
        aggregated.n_top2 / nullif(aggregated.n_valid, 0) as top2_share
    from marts.item_groups as groups
    left join aggregated
        on aggregated.wave = groups.wave
        and aggregated.org_type = groups.org_type
        and aggregated.item_code = groups.item_code
),

compared as (
    -- a change only for an item asked in both instrument versions: a new item has nothing to compare with
    select
        results.*,
        case when previous_items.item_code is not null then waves.previous_wave end as previous_wave
    from results
    join marts.wave_order as waves on waves.wave = results.wave
    left join core.items as previous_items
        on previous_items.instrument_version = waves.previous_version
        and previous_items.item_code = results.item_code
)

select
    compared.wave,
    waves.wave_label,
    compared.org_type,
    org_types.org_type_label,
    core.items.field_number,
    core.items.field_code,
    core.items.field_label,
    core.items.theme_code,
    core.items.theme_label,
    compared.item_code,
    core.items.item_label,
    core.items.item_type,
    core.items.special_category,
    compared.n_answered,
    compared.n_answered_cell_key,
    compared.n_valid,
    compared.value_sum,
    compared.n_top2,
    compared.mean,
    compared.top2_share,
    compared.previous_wave,
    compared.mean - previous.mean as mean_change,
    compared.top2_share - previous.top2_share as top2_change
from compared
join marts.wave_order as waves on waves.wave = compared.wave
join marts.org_types on org_types.org_type = compared.org_type
join core.items
    on core.items.item_code = compared.item_code
    and core.items.instrument_version = waves.instrument_version
left join results as previous
    on previous.wave = compared.previous_wave
    and previous.org_type = compared.org_type
    and previous.item_code = compared.item_code
order by
    compared.wave,
    compared.org_type = 'insgesamt',
    compared.org_type,
    core.items.field_number nulls last,
    compared.item_code
