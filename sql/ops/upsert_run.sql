insert into ops.runs (
    run_id, partner_id, started_at, finished_at, status, pages, fetched, inserted, updated, unchanged,
    quarantined, duplicates, unmapped_fields, error
)
values (
    $run_id, $partner_id, $started_at, $finished_at, $status, $pages, $fetched, $inserted, $updated, $unchanged,
    $quarantined, $duplicates, $unmapped_fields, $error
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
    unmapped_fields = excluded.unmapped_fields,
    error = excluded.error
