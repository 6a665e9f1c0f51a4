-- reads: core.items, core.waves, counted_answers (marts/010_answers_in_scope),
--     marts.org_types (marts/005_reference), marts.wave_order (marts/005_reference),
--     marts.wave_org_types (marts/005_reference), marts_waves (registered by pipeline.transform.marts)
-- writes: field_results_fresh, marts.field_results
-- Per Handlungsfeld (level 'handlungsfeld') and per theme of a field that has themes (level 'thema'),
-- organisation type and wave: respondents who answered any item of it, and the mean and top-2 box over all
-- scale answers given in it (each answer weighs the same), with the change since the previous wave; the
-- margin over organisation types is the org_type 'insgesamt'. Every field and theme of the wave's instrument has
-- a row for every organisation type of the wave, answered or not. Free text and special categories stay out.
-- n_respondents has its cell key (the sum of its respondents' record keys, modulo 2^20).
-- Computed for the waves in marts_waves (those whose responses changed), whole or as the rows kept plus the
-- change (counted_answers); the other waves' rows are kept, and the changes are computed again for all (a rebuilt
-- wave is the previous one of the next).
create or replace temp table field_results_fresh as
with fields as (
    select distinct
        field_code,
        field_number,
        field_label
    from core.items
    where field_code is not null
),

themes as (
    select distinct
        field_code,
        theme_code,
        theme_label
    from core.items
    where theme_code is not null
),

scored as (
    select
        sign,
        wave,
        org_type,
        field_code,
        theme_code,
        respondent_key,
        record_key,
        value
    from counted_answers
    where field_code is not null
        and item_type <> 'text'
),

per_theme as (
    -- reduced to respondents first (per theme, or per field where it has none), so both levels and the
    -- margins below count each respondent once without a distinct, over far fewer rows than the answers (a
    -- respondent's version the marts counted and its version now apart, by sign)
    select
        sign,
        wave,
        org_type,
        field_code,
        theme_code,
        respondent_key,
        record_key,
        count(value) as n_valid,
        coalesce(sum(value), 0) as value_sum,
        count(*) filter (where value >= 4) as n_top2
    from scored
    group by
        sign,
        wave,
        org_type,
        field_code,
        theme_code,
        respondent_key,
        record_key
),

per_respondent as (
    select
        'handlungsfeld' as level,
        sign,
        wave,
        org_type,
        field_code,
        null::varchar as theme_code,
        record_key,
        sum(n_valid) as n_valid,
        sum(value_sum) as value_sum,
        sum(n_top2) as n_top2
    from per_theme
    group by
        sign,
        wave,
        org_type,
        field_code,
        respondent_key,
        record_key
    union all
    select
        'thema' as level,
        sign,
        wave,
        org_type,
        field_code,
        theme_code,
        record_key,
        n_valid,
        value_sum,
        n_top2
    from per_theme
    where theme_code is not null
),

aggregated as (
    select
        level,
        wave,
        org_type,
        field_code,
        theme_code,
        sum(sign)::bigint as n_respondents,
        sum(sign * record_key)::bigint as key_sum,
        sum(sign * n_valid)::bigint as n_valid,
        sum(sign * value_sum) as value_sum,
        sum(sign * n_top2)::bigint as n_top2
    from marts.with_margin(per_respondent)
    group by level, wave, org_type, field_code, theme_code
),

field_groups as (
    -- every Handlungsfeld and theme of the wave's instrument for every organisation type of the wave
    select distinct
        case when level.is_theme then 'thema' else 'handlungsfeld' end as level,
        types.wave,
        types.org_type,
        core.items.field_code,
        case when level.is_theme then core.items.theme_code end as theme_code
    from marts.wave_org_types as types
    join marts_waves on marts_waves.wave = types.wave
    join core.waves on core.waves.wave = types.wave
    join core.items on core.items.instrument_version = core.waves.instrument_version
    cross join (values (false), (true)) as level (is_theme)
    where core.items.field_code is not null
        and core.items.item_type <> 'text'
        and (not level.is_theme or core.items.theme_code is not null)
),

results as (
    -- answered or not (a field nobody of a type answered has 0 respondents and no mean)
    select
        groups.level,
        groups.wave,
        groups.org_type,
        groups.field_code,
        groups.theme_code,
        coalesce(aggregated.n_respondents, 0) as n_respondents,
        marts.cell_key(coalesce(aggregated.key_sum, 0)) as n_respondents_cell_key,
        coalesce(aggregated.n_valid, 0) as n_valid,
        coalesce(aggregated.value_sum, 0) as value_sum,
        coalesce(aggregated.n_top2, 0) as n_top2
    from field_groups as groups
    left join aggregated
        on aggregated.level = groups.level
        and aggregated.wave = groups.wave
        and aggregated.org_type = groups.org_type
        and aggregated.field_code = groups.field_code
        and aggregated.theme_code is not distinct from groups.theme_code
)

-- the columns of the changes, filled below, so that the table can be made from this one when it is new
select
    results.wave,
    waves.wave_label,
    results.org_type,
    org_types.org_type_label,
    results.level,
    fields.field_number,
    results.field_code,
    fields.field_label,
    results.theme_code,
    themes.theme_label,
    results.n_respondents,
    results.n_respondents_cell_key,
    results.n_valid,
    results.value_sum,
    results.n_top2,
    -- from the sums, once the rows kept are added below
    null::double as mean,
    null::double as top2_share,
    waves.previous_wave,
    null::double as mean_change,
    null::double as top2_change
from results
join marts.wave_order as waves on waves.wave = results.wave
join marts.org_types on org_types.org_type = results.org_type
join fields on fields.field_code = results.field_code
left join themes
    on themes.field_code = results.field_code
    and themes.theme_code = results.theme_code;

create table if not exists marts.field_results as from field_results_fresh with no data;

update field_results_fresh as fresh
set
    n_respondents = fresh.n_respondents + kept.n_respondents,
    n_respondents_cell_key = marts.cell_key(fresh.n_respondents_cell_key + kept.n_respondents_cell_key),
    n_valid = fresh.n_valid + kept.n_valid,
    value_sum = fresh.value_sum + kept.value_sum,
    n_top2 = fresh.n_top2 + kept.n_top2
from marts.field_results as kept
where kept.wave = fresh.wave
    and kept.org_type = fresh.org_type
    and kept.level = fresh.level
    and kept.field_code = fresh.field_code
    and kept.theme_code is not distinct from fresh.theme_code
    and fresh.wave in (select wave from marts_waves where not whole);

update field_results_fresh
set
    mean = value_sum / nullif(n_valid, 0),
    top2_share = n_top2 / nullif(n_valid, 0);

create or replace table marts.field_results as
with figures as (
    select * exclude (mean_change, top2_change)
    from marts.with_fresh('marts.field_results', 'field_results_fresh')
)

select
    figures.*,
    figures.mean - previous.mean as mean_change,
    figures.top2_share - previous.top2_share as top2_change
from figures
left join figures as previous
    on previous.wave = figures.previous_wave
    and previous.org_type = figures.org_type
    and previous.level = figures.level
    and previous.field_code = figures.field_code
    and previous.theme_code is not distinct from figures.theme_code
order by
    figures.wave,
    figures.org_type = 'insgesamt',
    figures.org_type,
    figures.field_number,
    figures.level,
    figures.theme_code nulls first
