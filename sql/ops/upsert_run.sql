-- reads: nothing
-- writes: ops.runs
insert into ops.runs (
    run_id, partner_id, started_at, finished_at, status, pages, fetched, inserted, updated, unchanged,
    quarantined, duplicates, gone, gone_ids, unmapped_fields, error, process
)
values (
    $run_id, $partner_id, $started_at, $finished_at, $status, $pages, $fetched, $inserted, $updated, $unchanged,
    $quarantined, $duplicates, $gone, $gone_ids, $unmapped_fields, $error, $process
)
on conflict (run_id, partner_id) do update set
    finished_at = excluded.finished_at,
    status = excluded.status,
    pages = excluded.pages,
    fetched = excluded.fetched,
    inserted = excluded.inserted,
    updated = excluded.updated,
    unchanged = excluded.unchanged,
    quarantined = excluded.quarantined,
    duplicates = excluded.duplicates,
    gone = excluded.gone,
    gone_ids = excluded.gone_ids,
    unmapped_fields = excluded.unmapped_fields,
    error = excluded.error,
    process = excluded.process
