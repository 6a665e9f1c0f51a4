insert into ops.quarantine
select
    record_id,
    $run_id,
    $partner_id,
    source_id,
    field,
    value,
    check_name,
    reason,
    $schema_version,
    $quarantined_at
from batch_failures
