-- Versions about to be checked again lose their old reasons; those that fail again get fresh ones.
delete from ops.quarantine
where record_id in (select record_id from batch_classified)
