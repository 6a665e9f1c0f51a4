-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: ops.quarantine
-- Versions about to be checked again lose their old reasons; those that fail again get fresh ones.
delete from ops.quarantine
where record_id in (select record_id from batch_classified)
