-- The latest run of every partner, for `pipeline status`.
select
    partner_id,
    status,
    started_at,
    finished_at,
    fetched,
    inserted,
    updated,
    unchanged,
    quarantined,
    duplicates,
    inserted + updated as loaded,
    unmapped_fields,
    error
from ops.runs
qualify row_number() over (partition by partner_id order by started_at desc) = 1
order by partner_id
