-- reads: core.answer_options, core.items, core.waves, counted_answers (marts/010_answers_in_scope),
--     marts.item_groups (marts/005_reference), marts_waves (registered by pipeline.transform.marts)
-- writes: item_distribution_fresh, marts.item_distribution
-- Per item, organisation type and wave: respondents per answer code, zeros included, so every option of every
-- group appears (every item of the wave's instrument for every organisation type with responses in the wave);
-- the margin over organisation types is the org_type 'insgesamt'. Free text has no codes and is not counted
-- here. Each count has its cell key (the sum of its respondents' record keys, modulo 2^20).
-- Computed for the waves in marts_waves (those whose responses changed), whole or as the rows kept plus the
-- change (counted_answers); the other waves' rows are kept.
create or replace temp table item_distribution_fresh as
with coded as (
    select
        sign,
        wave,
        org_type,
        item_code,
        answer_code,
        record_key
    from counted_answers
    where item_type <> 'text'
),

counts as (
    -- core holds one row per respondent, item and code, so rows are respondents
    select
        wave,
        org_type,
        item_code,
        answer_code,
        sum(sign)::bigint as n,
        sum(sign * record_key)::bigint as key_sum
    from marts.with_margin(coded)
    group by wave, org_type, item_code, answer_code
)

select
    groups.wave,
    groups.org_type,
    core.items.field_code,
    core.items.theme_code,
    groups.item_code,
    core.answer_options.answer_code,
    core.answer_options.answer_label,
    core.answer_options.ordinal as answer_ordinal,
    -- null for answers outside the scale ("weiß nicht", "keine Angabe", yes/no, options)
    core.answer_options.value as answer_value,
    coalesce(counts.n, 0) as n,
    marts.cell_key(coalesce(counts.key_sum, 0)) as n_cell_key
from marts.item_groups as groups
join core.waves on core.waves.wave = groups.wave
join marts_waves on marts_waves.wave = groups.wave
join core.items
    on core.items.item_code = groups.item_code
    and core.items.instrument_version = core.waves.instrument_version
join core.answer_options on core.answer_options.item_code = groups.item_code
left join counts
    on counts.wave = groups.wave
    and counts.org_type = groups.org_type
    and counts.item_code = groups.item_code
    and counts.answer_code = core.answer_options.answer_code;

create table if not exists marts.item_distribution as from item_distribution_fresh with no data;

update item_distribution_fresh as fresh
set
    n = fresh.n + kept.n,
    n_cell_key = marts.cell_key(fresh.n_cell_key + kept.n_cell_key)
from marts.item_distribution as kept
where kept.wave = fresh.wave
    and kept.org_type = fresh.org_type
    and kept.item_code = fresh.item_code
    and kept.answer_code = fresh.answer_code
    and fresh.wave in (select wave from marts_waves where not whole);

create or replace table marts.item_distribution as
from marts.with_fresh('marts.item_distribution', 'item_distribution_fresh')
order by
    wave,
    org_type = 'insgesamt',
    org_type,
    item_code,
    answer_ordinal
