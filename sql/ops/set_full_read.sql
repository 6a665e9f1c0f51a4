-- reads: nothing
-- writes: ops.full_reads
insert into ops.full_reads (partner_id, read_at)
values ($partner_id, $read_at)
on conflict (partner_id) do update set read_at = excluded.read_at
