-- reads: ops.column_coverage, ops.drift, ops.runs
-- writes: nothing
-- The drift of each partner's last $runs runs (of one partner when $partner_id is set, of one run when $run_id
-- is): unknown columns, new answer codes, and mapped columns gone. A mapped column is gone in a run that none of
-- its responses carried once the responses without it since it was last carried (this run's and earlier
-- runs') reach the tool's missing_after: 1 for tools that send every question, so it shows from the first run
-- without it. first_seen_at is the start of the earliest run that showed the same, so a report tells what is
-- new since.
with coverage as (
    select
        covered.run_id,
        covered.partner_id,
        covered.field,
        covered.expected,
        covered.carried,
        covered.missing_after,
        run.started_at,
        count(*) filter (where covered.carried > 0) over (
            partition by covered.partner_id, covered.field
            order by run.started_at
            rows between unbounded preceding and current row
        ) as carried_runs
    from ops.column_coverage as covered
    join ops.runs as run
        on run.run_id = covered.run_id
        and run.partner_id = covered.partner_id
),

uncarried as (
    select
        *,
        sum(expected) filter (where carried = 0) over (
            partition by partner_id, field, carried_runs
            order by started_at
            rows between unbounded preceding and current row
        ) as without_it
    from coverage
),

found as (
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
        without_it as responses
    from uncarried
    where carried = 0
        and without_it >= missing_after
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
