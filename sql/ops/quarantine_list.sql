-- reads: ops.quarantine
-- writes: nothing
-- Open rejections, newest first: one row per failed check of a response version still in quarantine.
select
    ops.quarantine.partner_id,
    ops.quarantine.source,
    ops.quarantine.source_id,
    ops.quarantine.field,
    ops.quarantine.value,
    ops.quarantine.check_name,
    ops.quarantine.reason,
    ops.quarantine.schema_version,
    ops.quarantine.quarantined_at,
    ops.quarantine.record_id
from ops.quarantine
where $partner_id is null or ops.quarantine.partner_id = $partner_id
order by ops.quarantine.quarantined_at desc, ops.quarantine.partner_id, ops.quarantine.source, ops.quarantine.source_id, ops.quarantine.field
