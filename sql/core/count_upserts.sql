-- reads: batch_responses (staging/batch_responses), core.responses
-- writes: nothing
select
    count(*) filter (where core.responses.respondent_key is null) as inserted,
    count(core.responses.respondent_key) as updated
from batch_responses
left join core.responses on core.responses.respondent_key = batch_responses.respondent_key
