-- reads: core.responses, listed (registered by pipeline.load.loader), staging.responses
-- writes: nothing
-- The source's responses in core that a full read of it did not list (listed: the source ids it read), oldest
-- first.
select s.source_id
from core.responses as r
inner join staging.responses as s on s.record_id = r.record_id
where r.partner_id = $partner_id
    and s.source = $source
    and s.source_id not in (select l.source_id from listed as l)
order by r.submitted_at, s.source_id
