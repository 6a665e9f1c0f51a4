-- reads: core.answers, core.items, core.responses
-- writes: marts.answers_in_scope
-- Every current answer with its response's wave and organisation type, restricted to the items that belong
-- to the instrument version of that response's wave (an answer to a retired item is kept in core, not here).
-- Special-category items stay in: they have no field, but the item marts show them.
create or replace view marts.answers_in_scope as
with answers as (
    -- the answers' own wave: a build of some waves skips the row groups of the others
    select
        core.answers.wave,
        core.responses.org_type,
        core.responses.instrument_version,
        core.answers.respondent_key,
        -- the record key of the cell key method (pipeline.disclosure.cell_key): uniform in [0, 2^20), from the
        -- first hex digits of the key (a SHA-256 digest; a key the pipeline did not make falls back to a hash)
        coalesce(
            try_cast('0x' || left(core.answers.respondent_key, 5) as integer),
            hash(core.answers.respondent_key) % 1048576
        ) as record_key,
        core.answers.item_code,
        core.answers.answer_code,
        core.answers.value,
        core.answers.answer_text
    from core.answers
    join core.responses on core.responses.respondent_key = core.answers.respondent_key
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
