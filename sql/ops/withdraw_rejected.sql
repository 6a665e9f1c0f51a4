-- reads: batch_rejected (registered by pipeline.load.loader), withdrawn (ops/withdrawn)
-- writes: core.answers, core.responses, ops.quarantine, ops.rejected_by_partner
-- Responses the partner rejected in its review (batch_rejected): kept in ops.rejected_by_partner, and those in
-- core (withdrawn) removed from it with their answers and open rejections.
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
