-- Responses met in this run, so a later batch listing them again counts them as duplicates.
insert into run_seen
select source_id, record_sha256
from batch_classified
where source_id is not null
