-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: nothing
-- Responses met in this batch: the loader keeps them for the run, so a later batch listing them again counts
-- them as duplicates (classify_batch reads them as run_seen).
select source_id, record_sha256
from batch_classified
where source_id is not null
