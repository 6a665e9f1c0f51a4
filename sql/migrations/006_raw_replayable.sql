-- Raw alone must be enough to rebuild staging and core: keep each response's submission time as the connector
-- read it (tools name it differently) and the time zone its tool means when a time has no offset.

alter table raw.records add column submitted_at varchar;

alter table raw.pages add column naive_timezone varchar;

-- Every stored version of every response, numbered in the order fetched: what a rebuild replays round by round.
create view raw.versions as
select
    records.*,
    pages.naive_timezone,
    row_number() over (
        partition by records.partner_id, coalesce(records.source_id, records.record_id)
        order by records.fetched_at, records.ordinal
    ) as version_no,
    count(*) over (
        partition by records.partner_id, coalesce(records.source_id, records.record_id)
    ) as versions
from raw.records as records
join raw.pages as pages on pages.page_id = records.page_id;
