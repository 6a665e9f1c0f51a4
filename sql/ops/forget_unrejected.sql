-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: ops.rejected_by_partner
-- Responses rejected at the partner that it lists unrejected again: they were loaded again (classified new).
delete from ops.rejected_by_partner
where partner_id = $partner_id
    and source = $source
    and source_id in (select source_id from batch_classified where disposition = 'new')
