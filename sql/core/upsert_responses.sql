-- reads: batch_responses (staging/batch_responses)
-- writes: core.responses
-- Latest version wins: an edited response replaces the earlier one, which stays in raw and staging.
insert into core.responses
select
    respondent_key,
    partner_id,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    record_id,
    loaded_at as first_loaded_at,
    loaded_at as updated_at
from batch_responses
on conflict (respondent_key) do update set
    partner_id = excluded.partner_id,
    org_type = excluded.org_type,
    wave = excluded.wave,
    instrument_version = excluded.instrument_version,
    submitted_at = excluded.submitted_at,
    record_id = excluded.record_id,
    updated_at = excluded.updated_at
