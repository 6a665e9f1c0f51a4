-- reads: claimed_source (temp table of pipeline.load.sources), ops.sources
-- writes: first_source, ops.cursors, ops.quarantine, ops.sources, raw.records, staging.responses
-- Make a partner's source known (claimed_source: partner_id, source, seen_at, volatile). The partner's first
-- source keeps the respondent keys of before sources were kept, every later one is keyed with the source. The
-- first source also claims what was stored before sources were kept (rows without a source, the cursor ''): it
-- came from the source the partner was configured with then. Their version hashes were taken over the whole
-- record: they are taken again without the volatile fields, as raw/classify_batch takes them now.
insert into ops.sources (partner_id, source, keyed_with_source, first_seen_at)
select
    claimed_source.partner_id,
    claimed_source.source,
    exists (select 1 from ops.sources where ops.sources.partner_id = claimed_source.partner_id),
    claimed_source.seen_at
from claimed_source
where not exists (
    select 1 from ops.sources
    where ops.sources.partner_id = claimed_source.partner_id and ops.sources.source = claimed_source.source
);

create or replace temp table first_source as
select ops.sources.partner_id, ops.sources.source
from ops.sources
join claimed_source on claimed_source.partner_id = ops.sources.partner_id
where not ops.sources.keyed_with_source;

update raw.records set record_sha256 = sha256(json_merge_patch(raw.records.record, claimed_source.volatile)::varchar)
from claimed_source
where raw.records.partner_id = claimed_source.partner_id
    and raw.records.source is null
    and claimed_source.volatile::varchar <> '{}';

update raw.records set source = first_source.source
from first_source
where raw.records.partner_id = first_source.partner_id and raw.records.source is null;

update staging.responses set source = first_source.source
from first_source
where staging.responses.partner_id = first_source.partner_id and staging.responses.source is null;

update ops.quarantine set source = first_source.source
from first_source
where ops.quarantine.partner_id = first_source.partner_id and ops.quarantine.source is null;

update ops.cursors set source = first_source.source
from first_source
where ops.cursors.partner_id = first_source.partner_id and ops.cursors.source = '';

drop table first_source;
