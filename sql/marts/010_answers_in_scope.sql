-- reads: core.answers, core.items, core.waves, marts_waves (registered by pipeline.transform.marts),
--     ops.answers_since_marts
-- writes: counted_answers, marts.answers_in_scope
-- The answers the marts count: each with its item's type, field and theme, restricted to the items that belong
-- to the instrument version of its wave (an answer to a retired item is kept in core, not here). Special-category
-- items stay in: they have no field, but the item marts show them. The answers carry their response's wave,
-- organisation type and record key (migrations 140 and 150), so a build of some waves skips the row groups of the
-- others and joins no response.
create or replace macro marts.scoped(answers) as table
select
    answers.*,
    core.waves.instrument_version,
    core.items.item_type,
    core.items.field_code,
    core.items.theme_code,
    core.items.special_category
from query_table(answers) as answers
join core.waves on core.waves.wave = answers.wave
join core.items
    on core.items.item_code = answers.item_code
    and core.items.instrument_version = core.waves.instrument_version
-- a blank free text is no answer; a multiple choice shown with nothing ticked is one (a row without a code)
where answers.answer_code is not null
    or core.items.item_type = 'multi'
    or regexp_matches(answers.answer_text, '\S');

create or replace view marts.answers_in_scope as
select
    wave,
    org_type,
    instrument_version,
    respondent_key,
    record_key,
    item_code,
    answer_code,
    value,
    answer_text,
    item_type,
    field_code,
    theme_code,
    special_category
from marts.scoped(core.answers);

-- What this build counts, signed: for a wave built whole every answer (+1); for a wave built from the last build
-- (marts_waves.whole false) the answers changed since, those the marts counted (-1) and those now (+1), which the
-- marts files add to the rows they keep. Every sum of the marts is a sum of signs; a respondent is one version
-- per sign (ops/note_removed_answers), so per-respondent reductions group by respondent and sign.
create or replace temp view counted_answers as
select
    1::tinyint as sign,
    *
from marts.answers_in_scope
where wave in (select wave from marts_waves where whole)
union all by name
select *
from marts.scoped(ops.answers_since_marts)
where wave in (select wave from marts_waves where not whole);

-- A cell key from a signed sum of record keys: the sum modulo 2^20, in [0, 2^20) for a negative change too.
create or replace macro marts.cell_key(key_sum) as ((key_sum % 1048576 + 1048576) % 1048576)::integer;
