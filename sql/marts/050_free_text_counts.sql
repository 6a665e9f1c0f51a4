-- reads: core.items, core.waves, counted_answers (marts/010_answers_in_scope),
--     marts.org_types (marts/005_reference), marts.wave_org_types (marts/005_reference),
--     marts_waves (registered by pipeline.transform.marts)
-- writes: free_text_counts_fresh, marts.free_text_counts, text_fields
-- Per Handlungsfeld, organisation type and wave: respondents who wrote a free text in it. The steering group
-- sees free text only as these counts; zeros included for every field with a free-text item in the wave's
-- instrument, for every organisation type with responses in the wave; the margin is the org_type 'insgesamt'.
-- n_texts has its cell key (the sum of its writers' record keys, modulo 2^20).
-- Computed for the waves in marts_waves (those whose responses changed), whole or as the rows kept plus the
-- change (counted_answers); the other waves' rows are kept.
create or replace temp view text_fields as
select distinct
    core.waves.wave,
    core.items.field_code,
    core.items.field_number,
    core.items.field_label
from core.waves
join core.items on core.items.instrument_version = core.waves.instrument_version
where core.items.item_type = 'text'
    and core.items.field_code is not null;

create or replace temp table free_text_counts_fresh as
with writers as (
    -- a respondent with several free-text items in a field counts once (each version apart, by sign)
    select distinct
        sign,
        wave,
        org_type,
        field_code,
        respondent_key,
        record_key
    from counted_answers
    -- the test on answer_text reaches the scan of core.answers, so only free texts are joined
    where item_type = 'text'
        and answer_text is not null
),

counts as (
    select
        wave,
        org_type,
        field_code,
        sum(sign)::bigint as n_texts,
        sum(sign * record_key)::bigint as key_sum
    from marts.with_margin(writers)
    group by wave, org_type, field_code
)

select
    groups.wave,
    core.waves.wave_label,
    groups.org_type,
    org_types.org_type_label,
    text_fields.field_code,
    text_fields.field_label,
    coalesce(counts.n_texts, 0) as n_texts,
    marts.cell_key(coalesce(counts.key_sum, 0)) as n_texts_cell_key
from marts.wave_org_types as groups
join marts_waves on marts_waves.wave = groups.wave
join core.waves on core.waves.wave = groups.wave
join marts.org_types on org_types.org_type = groups.org_type
join text_fields on text_fields.wave = groups.wave
left join counts
    on counts.wave = groups.wave
    and counts.org_type = groups.org_type
    and counts.field_code = text_fields.field_code;

create table if not exists marts.free_text_counts as from free_text_counts_fresh with no data;

update free_text_counts_fresh as fresh
set
    n_texts = fresh.n_texts + kept.n_texts,
    n_texts_cell_key = marts.cell_key(fresh.n_texts_cell_key + kept.n_texts_cell_key)
from marts.free_text_counts as kept
where kept.wave = fresh.wave
    and kept.org_type = fresh.org_type
    and kept.field_code = fresh.field_code
    and fresh.wave in (select wave from marts_waves where not whole);

create or replace table marts.free_text_counts as
select merged.*
from marts.with_fresh('marts.free_text_counts', 'free_text_counts_fresh') as merged
join text_fields
    on text_fields.wave = merged.wave
    and text_fields.field_code = merged.field_code
order by
    merged.wave,
    merged.org_type = 'insgesamt',
    merged.org_type,
    text_fields.field_number
