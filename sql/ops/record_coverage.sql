-- reads: asked_items (registered by pipeline.contract.drift),
--     batch_classified (temp table of raw/classify_batch or raw/reload_batch),
--     batch_versions (registered by pipeline.contract.drift)
-- writes: ops.column_coverage
-- How many of the batch's new versions could have carried each mapped partner field and how many did (counted
-- into the run's totals; a version read again unchanged was counted when it was new). A field counts as carried
-- when it, or another field mapped to the same target, is a key of the response, answered or not: tools that
-- omit unanswered questions leave only skipped ones out. Reads
-- batch_classified, batch_versions (record_id, instrument_version) and asked_items (instrument_version,
-- item_code). $missing_after: how many responses without a field prove it gone for this tool.
insert into ops.column_coverage (run_id, partner_id, field, expected, carried, missing_after)
with keyed as (
    select
        record_id,
        unnest($partner_codes::varchar[]) as field,
        unnest($targets::varchar[]) as target,
        unnest($item_codes::varchar[]) as item_code,
        unnest(json_extract(record::json, $json_paths::varchar[])) is not null as present
    from batch_classified
    where disposition = 'new'
),

by_target as (
    select
        record_id,
        field,
        item_code,
        bool_or(present) over (partition by record_id, target) as carried
    from keyed
)

select
    $run_id as run_id,
    $partner_id as partner_id,
    by_target.field,
    count(*) as expected,
    count(*) filter (where by_target.carried) as carried,
    $missing_after as missing_after
from by_target
join batch_versions on batch_versions.record_id = by_target.record_id
join asked_items
    on asked_items.instrument_version = batch_versions.instrument_version
    and asked_items.item_code = by_target.item_code
group by by_target.field
on conflict (run_id, partner_id, field) do update set
    expected = ops.column_coverage.expected + excluded.expected,
    carried = ops.column_coverage.carried + excluded.carried
