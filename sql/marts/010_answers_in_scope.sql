-- reads: core.answers, core.items, core.waves
-- writes: marts.answers_in_scope
-- Every current answer with its response's wave and organisation type, restricted to the items that belong
-- to the instrument version of that response's wave (an answer to a retired item is kept in core, not here).
-- Special-category items stay in: they have no field, but the item marts show them.
create or replace view marts.answers_in_scope as
with answers as (
    -- the answers carry their response's wave, organisation type and record key (migrations 140 and 150): a
    -- build of some waves skips the row groups of the others and joins no response
    select
        core.answers.wave,
        core.answers.org_type,
        core.waves.instrument_version,
        core.answers.respondent_key,
        core.answers.record_key,
        core.answers.item_code,
        core.answers.answer_code,
        core.answers.value,
        core.answers.answer_text
    from core.answers
    join core.waves on core.waves.wave = core.answers.wave
)

select
    answers.*,
    core.items.item_type,
    core.items.field_code,
    core.items.theme_code,
    core.items.special_category
from answers
join core.items
    on core.items.item_code = answers.item_code
    and core.items.instrument_version = answers.instrument_version
-- a blank free text is no answer; a multiple choice shown with nothing ticked is one (a row without a code)
where answers.answer_code is not null
    or core.items.item_type = 'multi'
    or regexp_matches(answers.answer_text, '\S')
