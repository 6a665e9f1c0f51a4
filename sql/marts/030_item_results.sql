-- reads: core.items, counted_answers (marts/010_answers_in_scope),
--     marts.item_groups (marts/005_reference), marts.org_types (marts/005_reference),
--     marts.wave_order (marts/005_reference), marts_waves (registered by pipeline.transform.marts)
-- writes: item_results_fresh, marts.item_results
-- Per item, organisation type and wave: who answered, and the mean and top-2 box of the scale answers, with
-- the change since the previous wave; the margin over organisation types is the org_type 'insgesamt'.
-- "weiß nicht" and "keine Angabe" count as answered but carry no value, so they never enter a mean.
-- n_answered has its cell key (the sum of its respondents' record keys, modulo 2^20).
-- Computed for the waves in marts_waves (those whose responses changed), whole or as the rows kept plus the
-- change (counted_answers); the other waves' rows are kept, and the changes are computed again for all (a rebuilt
-- wave is the previous one of the next).
create or replace temp table item_results_fresh as
with ticking as (
    -- multiple choice has a row per ticked option; its respondents are counted once
    select distinct
        sign,
        wave,
        org_type,
        item_code,
        respondent_key,
        record_key
    from counted_answers
    where item_type = 'multi'
),

answered as (
    -- one row per respondent and item: only multiple choice needed reducing, which keeps the aggregation small
    select
        sign,
        wave,
        org_type,
        item_code,
        value,
        record_key
    from counted_answers
    where item_type in ('scale', 'yesno')
    union all
    select
        sign,
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
        sum(sign)::bigint as n_answered,
        coalesce(sum(sign) filter (where value is not null), 0)::bigint as n_valid,
        coalesce(sum(sign * value), 0) as value_sum,
        coalesce(sum(sign) filter (where value >= 4), 0)::bigint as n_top2,
        sum(sign * record_key)::bigint as key_sum
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
        marts.cell_key(coalesce(aggregated.key_sum, 0)) as n_answered_cell_key
    from marts.item_groups as groups
    join marts_waves on marts_waves.wave = groups.wave
    left join aggregated
        on aggregated.wave = groups.wave
        and aggregated.org_type = groups.org_type
        and aggregated.item_code = groups.item_code
),

labelled as (
    select
        results.wave,
        waves.wave_label,
        results.org_type,
        org_types.org_type_label,
        core.items.field_number,
        core.items.field_code,
        core.items.field_label,
        core.items.theme_code,
        core.items.theme_label,
        results.item_code,
        core.items.item_label,
        core.items.item_type,
        core.items.special_category,
        results.n_answered,
        results.n_answered_cell_key,
        results.n_valid,
        results.value_sum,
        results.n_top2,
        -- from the sums, once the rows kept are added below
        null::double as mean,
        null::double as top2_share
    from results
    join marts.wave_order as waves on waves.wave = results.wave
    join marts.org_types on org_types.org_type = results.org_type
    join core.items
        on core.items.item_code = results.item_code
        and core.items.instrument_version = waves.instrument_version
)

-- the columns of the changes, filled below, so that the table can be made from this one when it is new
select
    *,
    null::varchar as previous_wave,
    null::double as mean_change,
    null::double as top2_change
from labelled;

create table if not exists marts.item_results as from item_results_fresh with no data;

update item_results_fresh as fresh
set
    n_answered = fresh.n_answered + kept.n_answered,
    n_answered_cell_key = marts.cell_key(fresh.n_answered_cell_key + kept.n_answered_cell_key),
    n_valid = fresh.n_valid + kept.n_valid,
    value_sum = fresh.value_sum + kept.value_sum,
    n_top2 = fresh.n_top2 + kept.n_top2
from marts.item_results as kept
where kept.wave = fresh.wave
    and kept.org_type = fresh.org_type
    and kept.item_code = fresh.item_code
    and fresh.wave in (select wave from marts_waves where not whole);

update item_results_fresh
set
    mean = value_sum / nullif(n_valid, 0),
    top2_share = n_top2 / nullif(n_valid, 0);

create or replace table marts.item_results as
with figures as (
    select * exclude (previous_wave, mean_change, top2_change)
    from marts.with_fresh('marts.item_results', 'item_results_fresh')
),

compared as (
    -- a change only for an item asked in both instrument versions: a new item has nothing to compare with
    select
        figures.*,
        case when previous_items.item_code is not null then waves.previous_wave end as previous_wave
    from figures
    join marts.wave_order as waves on waves.wave = figures.wave
    left join core.items as previous_items
        on previous_items.instrument_version = waves.previous_version
        and previous_items.item_code = figures.item_code
)

select
    compared.*,
    compared.mean - previous.mean as mean_change,
    compared.top2_share - previous.top2_share as top2_change
from compared
left join figures as previous
    on previous.wave = compared.previous_wave
    and previous.org_type = compared.org_type
    and previous.item_code = compared.item_code
order by
    compared.wave,
    compared.org_type = 'insgesamt',
    compared.org_type,
    compared.field_number nulls last,
    compared.item_code
