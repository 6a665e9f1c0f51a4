-- reads: nothing
-- writes: ops.cursors
insert into ops.cursors (partner_id, source, cursor, updated_at)
values ($partner_id, $source, $cursor, $updated_at)
on conflict (partner_id, source) do update set cursor = excluded.cursor, updated_at = excluded.updated_at
