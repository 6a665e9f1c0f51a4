-- reads: core.answer_options, staging.answers, staging.responses, valid_responses (registered by pipeline.load)
-- writes: core.answers
delete from core.answers
where respondent_key in (
    select respondent_key from staging.responses
    where record_id in (select record_id from valid_responses)
);

insert into core.answers
select
    staging.responses.respondent_key,
    staging.answers.item_code,
    staging.answers.answer_code,
    core.answer_options.value,
    staging.answers.answer_text
from staging.answers
join staging.responses on staging.responses.record_id = staging.answers.record_id
left join core.answer_options
    on core.answer_options.item_code = staging.answers.item_code
    and core.answer_options.answer_code = staging.answers.answer_code
where staging.answers.record_id in (select record_id from valid_responses);
