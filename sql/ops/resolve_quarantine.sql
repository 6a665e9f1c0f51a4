-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch),
--     valid_responses (registered by pipeline.load.loader)
-- writes: ops.quarantine
-- Quarantine lists open problems: once a version of a response loads, earlier rejections of it are settled
-- (raw keeps every version, and ops.runs the counts of the runs that rejected them).
delete from ops.quarantine
where partner_id = $partner_id
    and exists (
        select 1
        from valid_responses
        join batch_classified on batch_classified.record_id = valid_responses.record_id
        where batch_classified.source = ops.quarantine.source
            and batch_classified.source_id = ops.quarantine.source_id
    )
