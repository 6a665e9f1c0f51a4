-- reads: batch_responses (staging/batch_responses), core.answer_options, ops.built_from,
--     valid_answers (staging/valid_answers)
-- writes: batch_core_answers, core.answers, ops.answers_since_marts
-- The batch's answers into core, and while marts exist into the log of answers since they were built, with
-- sign +1 (ops/note_removed_answers took out what the log held of these respondents before).
create or replace temp table batch_core_answers as
select
    batch_responses.respondent_key,
    valid_answers.item_code,
    valid_answers.answer_code,
    core.answer_options.value,
    valid_answers.answer_text,
    batch_responses.wave,
    batch_responses.org_type,
    core.record_key(batch_responses.respondent_key) as record_key
from valid_answers
join batch_responses on batch_responses.record_id = valid_answers.record_id
left join core.answer_options
    on core.answer_options.item_code = valid_answers.item_code
    and core.answer_options.answer_code = valid_answers.answer_code;

insert into core.answers
from batch_core_answers;

insert into ops.answers_since_marts
select
    1 as sign,
    *
from batch_core_answers
where exists (select 1 from ops.built_from where artefact = 'marts answers');

drop table batch_core_answers;
