-- reads: batch_drift (registered by pipeline.contract.drift)
-- writes: ops.drift
-- Drift a batch showed (registered batch_drift: kind, field, code, responses), added to the run's.
insert into ops.drift
select
    $run_id as run_id,
    $partner_id as partner_id,
    kind,
    field,
    code,
    responses,
    $detected_at as detected_at
from batch_drift
on conflict (run_id, partner_id, kind, field, code) do update set
    responses = ops.drift.responses + excluded.responses
