-- reads: batch_responses (staging/batch_responses)
-- writes: staging.responses
insert into staging.responses (
    record_id,
    partner_id,
    source_id,
    respondent_key,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    loaded_at,
    source
)
select
    record_id,
    partner_id,
    source_id,
    respondent_key,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    loaded_at,
    source
from batch_responses
