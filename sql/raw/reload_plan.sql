-- reads: ops.quarantine, ops.rejected_by_partner, raw.versions
-- writes: reload_candidates
-- The stored versions a rebuild (all, numbered in rounds: first versions, then second ones, ...) or a replay
-- (quarantined versions still the latest of their response) of one partner goes through, fixed before the first
-- slice loads, so what a slice changes in quarantine cannot move the others. A slice holds one source: the same
-- response id in two surveys is two responses. Responses the partner rejected in its review stay out.
create or replace temp table reload_candidates as
select
    record_id,
    source,
    version_no as round,
    naive_timezone,
    fetched_at,
    ordinal
from raw.versions
where partner_id = $partner_id
    and (
        not $only_quarantined
        or (version_no = versions and record_id in (select record_id from ops.quarantine))
    )
    and not exists (
        select 1
        from ops.rejected_by_partner as rejected
        where rejected.partner_id = raw.versions.partner_id
            and rejected.source = raw.versions.source
            and rejected.source_id = raw.versions.source_id
    )
