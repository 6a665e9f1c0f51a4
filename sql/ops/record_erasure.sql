-- reads: nothing
-- writes: ops.erased
-- The erasure on record under the respondent key alone; erasing again keeps the first date and adds the versions.
insert into ops.erased (respondent_key, partner_id, erased_at, erased_by, versions_removed)
values ($respondent_key, $partner_id, $erased_at, $erased_by, $versions_removed)
on conflict (respondent_key) do update set
    erased_by = excluded.erased_by,
    versions_removed = ops.erased.versions_removed + excluded.versions_removed
