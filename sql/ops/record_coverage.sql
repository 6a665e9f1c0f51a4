-- reads: asked_items (registered by pipeline.contract.drift), batch_keys (staging/batch_keys),
--     batch_versions (registered by pipeline.contract.drift)
-- writes: ops.column_coverage
-- How many of the batch's new versions could have carried each mapped partner field and how many did (counted
-- into the run's totals; a version read again unchanged was counted when it was new). A field counts as carried
-- when it, or another field mapped to the same target, is a key of the response, answered or not: tools that
-- omit unanswered questions leave only skipped ones out. batch_versions (record_id, instrument_version) holds
-- the new versions, asked_items (instrument_version, item_code) what each instrument version asks.
-- $missing_after: how many responses without a field prove it gone for this tool.
insert into ops.column_coverage (run_id, partner_id, field, expected, carried, missing_after)
with mapped as (
    select
        unnest($partner_codes::varchar[]) as field,
        unnest($targets::varchar[]) as target,
        unnest($item_codes::varchar[]) as item_code
),

-- per instrument version, how many responses carry a field of each target
carried as (
    select
        batch_versions.instrument_version,
        mapped.target,
        count(distinct batch_keys.record_id) as responses
    from batch_keys
    join batch_versions on batch_versions.record_id = batch_keys.record_id
    join mapped on mapped.field = batch_keys.field
    group by batch_versions.instrument_version, mapped.target
),

-- every response of a version could have carried each field mapped to an item that version asks
expected as (
    select
        versions.instrument_version,
        mapped.field,
        mapped.target,
        versions.responses
    from (select instrument_version, count(*) as responses from batch_versions group by instrument_version) as versions
    join asked_items on asked_items.instrument_version = versions.instrument_version
    join mapped on mapped.item_code = asked_items.item_code
)

select
    $run_id as run_id,
    $partner_id as partner_id,
    expected.field,
    sum(expected.responses) as expected,
    coalesce(sum(carried.responses), 0) as carried,
    $missing_after as missing_after
from expected
left join carried
    on carried.instrument_version = expected.instrument_version
    and carried.target = expected.target
group by expected.field
on conflict (run_id, partner_id, field) do update set
    expected = ops.column_coverage.expected + excluded.expected,
    carried = ops.column_coverage.carried + excluded.carried
