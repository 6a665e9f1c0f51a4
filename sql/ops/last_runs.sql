-- reads: ops.runs
-- writes: nothing
-- The latest run of every partner, for `pipeline status`, with what the latest full read found gone at the
-- partner (a run from the cursor cannot tell).
with latest as (
    select
        partner_id,
        status,
        started_at,
        finished_at,
        fetched,
        inserted,
        updated,
        unchanged,
        quarantined,
        duplicates,
        inserted + updated as loaded,
        unmapped_fields,
        error,
        process
    from ops.runs
    qualify row_number() over (partition by partner_id order by started_at desc) = 1
),

full_read as (
    select
        partner_id,
        gone,
        gone_ids
    from ops.runs
    where gone is not null
    qualify row_number() over (partition by partner_id order by started_at desc) = 1
)

select
    latest.*,
    full_read.gone,
    full_read.gone_ids
from latest
left join full_read using (partner_id)
order by partner_id
