-- reads: batch_rejected (registered by pipeline.load.loader), core.responses, staging.responses
-- writes: withdrawn
-- The responses in core the partner rejected in its review (batch_rejected: partner_id, source, source_id,
-- rejected_at, run_id): what ops/withdraw_rejected removes, counted with the responses gone at the partner.
create or replace temp table withdrawn as
select
    core.responses.respondent_key,
    staging.responses.source_id
from batch_rejected
join staging.responses
    on staging.responses.partner_id = batch_rejected.partner_id
    and staging.responses.source = batch_rejected.source
    and staging.responses.source_id = batch_rejected.source_id
join core.responses on core.responses.record_id = staging.responses.record_id;
