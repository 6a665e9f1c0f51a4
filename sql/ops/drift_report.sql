-- The drift of each partner's last $runs runs (of one partner when $partner_id is set, of one run when $run_id
-- is): unknown columns, new
-- answer codes, and mapped columns that none of at least $missing_after responses carried. first_seen_at is
-- the start of the earliest run that showed the same, so a report tells what is new since.
with found as (
    select
        run_id,
        partner_id,
        kind,
        field,
        code,
        responses
    from ops.drift
    union all
    select
        run_id,
        partner_id,
        'missing_column' as kind,
        field,
        '' as code,
        expected as responses
    from ops.column_coverage
    where carried = 0
        and expected >= $missing_after
),

runs as (
    select
        run_id,
        partner_id,
        started_at,
        row_number() over (partition by partner_id order by started_at desc) as nth
    from ops.runs
    where ($partner_id is null or partner_id = $partner_id)
        and ($run_id is null or run_id = $run_id)
),

dated as (
    select
        found.*,
        runs.started_at,
        runs.nth,
        min(runs.started_at) over (partition by found.partner_id, found.kind, found.field, found.code) as first_seen_at
    from found
    join runs on runs.run_id = found.run_id and runs.partner_id = found.partner_id
)

select
    partner_id,
    run_id,
    started_at,
    kind,
    field,
    code,
    responses,
    first_seen_at
from dated
where nth <= $runs
order by partner_id, started_at desc, kind, field, code
