-- reads: batch_responses (staging/batch_responses), core.answer_options, valid_answers (staging/valid_answers)
-- writes: core.answers
insert into core.answers
select
    batch_responses.respondent_key,
    valid_answers.item_code,
    valid_answers.answer_code,
    core.answer_options.value,
    valid_answers.answer_text,
    batch_responses.wave,
    batch_responses.org_type,
    core.record_key(batch_responses.respondent_key)
from valid_answers
join batch_responses on batch_responses.record_id = valid_answers.record_id
left join core.answer_options
    on core.answer_options.item_code = valid_answers.item_code
    and core.answer_options.answer_code = valid_answers.answer_code
