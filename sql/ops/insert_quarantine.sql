-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch),
--     batch_failures (registered by pipeline.load.loader)
-- writes: ops.quarantine
insert into ops.quarantine (
    record_id,
    run_id,
    partner_id,
    source_id,
    field,
    value,
    check_name,
    reason,
    schema_version,
    quarantined_at,
    source
)
select
    batch_failures.record_id,
    $run_id,
    $partner_id,
    batch_failures.source_id,
    batch_failures.field,
    batch_failures.value,
    batch_failures.check_name,
    batch_failures.reason,
    $schema_version,
    $quarantined_at,
    batch_classified.source
from batch_failures
left join batch_classified on batch_classified.record_id = batch_failures.record_id
