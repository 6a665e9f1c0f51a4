-- reads: batch_rejected (registered by pipeline.load.loader), core.responses, staging.responses
-- writes: core.answers, core.responses, ops.quarantine, ops.rejected_by_partner, withdrawn
-- Responses the partner rejected in its review (batch_rejected: partner_id, source, source_id, rejected_at,
-- run_id): kept in ops.rejected_by_partner, and those in core removed from it with their answers and open
-- rejections (withdrawn: what was removed, counted with the responses gone at the partner).
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

delete from core.answers where respondent_key in (select respondent_key from withdrawn);

delete from core.responses where respondent_key in (select respondent_key from withdrawn);

delete from ops.quarantine
using batch_rejected
where ops.quarantine.partner_id = batch_rejected.partner_id
    and ops.quarantine.source = batch_rejected.source
    and ops.quarantine.source_id = batch_rejected.source_id;

insert into ops.rejected_by_partner
select distinct partner_id, source, source_id, rejected_at, run_id
from batch_rejected
on conflict do nothing;
