-- reads: nothing
-- writes: raw.pages
insert into raw.pages (page_id, run_id, partner_id, fetched_at, request, sha256, bytes, n_records, naive_timezone)
values ($page_id, $run_id, $partner_id, $fetched_at, $request, $sha256, $bytes, $n_records, $naive_timezone)
