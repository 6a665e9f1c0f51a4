-- reads: core.responses, erase_target (temp table of pipeline.maintenance.erase), ops.answers_since_marts,
--     ops.quarantine, raw.records, staging.responses
-- writes: core.answers, core.responses, erase_records, ops.answers_since_marts, ops.built_from, ops.quarantine,
--     ops.rejected_by_partner, raw.records, staging.answers, staging.responses
-- One respondent removed from every table that holds it; erase_target names it (partner_id, source, source_id,
-- respondent_key). Its versions are found through raw, staging and the quarantine alike, so none loaded under
-- another record id can stay behind.
create or replace temp table erase_records as
select raw.records.record_id
from raw.records, erase_target
where raw.records.partner_id = erase_target.partner_id
    and raw.records.source = erase_target.source
    and raw.records.source_id = erase_target.source_id
union
select staging.responses.record_id
from staging.responses, erase_target
where staging.responses.respondent_key = erase_target.respondent_key
union
select ops.quarantine.record_id
from ops.quarantine, erase_target
where ops.quarantine.partner_id = erase_target.partner_id
    and ops.quarantine.source = erase_target.source
    and ops.quarantine.source_id = erase_target.source_id;

delete from staging.answers where record_id in (select record_id from erase_records);
delete from staging.responses where record_id in (select record_id from erase_records);
-- no answer of it is kept for the marts to subtract: the waves that counted it are built again whole
-- (pipeline.transform.marts keeps a wave's digest as 'marts wave <wave>')
delete from ops.built_from
where artefact in (
    select 'marts wave ' || wave
    from core.responses
    where respondent_key in (select respondent_key from erase_target)
    union
    select 'marts wave ' || wave
    from ops.answers_since_marts
    where respondent_key in (select respondent_key from erase_target)
);
delete from ops.answers_since_marts where respondent_key in (select respondent_key from erase_target);
delete from core.answers where respondent_key in (select respondent_key from erase_target);
delete from core.responses where respondent_key in (select respondent_key from erase_target);
delete from ops.quarantine where record_id in (select record_id from erase_records);
delete from raw.records where record_id in (select record_id from erase_records);
delete from ops.rejected_by_partner
using erase_target
where ops.rejected_by_partner.partner_id = erase_target.partner_id
    and ops.rejected_by_partner.source = erase_target.source
    and ops.rejected_by_partner.source_id = erase_target.source_id;
