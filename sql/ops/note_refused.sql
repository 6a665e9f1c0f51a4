-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch)
-- writes: ops.erased
-- Erased respondents the partner listed again in this batch: left out, noted here.
update ops.erased
set
    refused = ops.erased.refused + listed.n,
    last_refused_at = $refused_at
from (
    select
        erased_key,
        count(*) as n
    from batch_classified
    where erased_key is not null
    group by erased_key
) as listed
where ops.erased.respondent_key = listed.erased_key
