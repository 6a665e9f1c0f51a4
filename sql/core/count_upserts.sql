-- reads: core.responses, staging.responses, valid_responses (registered by pipeline.load)
-- writes: nothing
select
    count(*) filter (where core.responses.respondent_key is null) as inserted,
    count(core.responses.respondent_key) as updated
from staging.responses
left join core.responses on core.responses.respondent_key = staging.responses.respondent_key
where staging.responses.record_id in (select record_id from valid_responses)
