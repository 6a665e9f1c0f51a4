-- A partner's responses come from a source: a LimeSurvey survey, an ODK form, a Kobo asset, a drop folder. A
-- partner that moves to a new survey (one per wave is common) keeps both: cursors and response identity are
-- per partner and source, so ids that repeat across surveys (1, 2, 3 in each) are different responses.

-- The sources the pipeline has met, per partner. The first keeps the respondent key it had before sources were
-- kept, HMAC(partner ':' response id); each later one is keyed HMAC(partner ':' source ':' response id).
create table ops.sources (
    partner_id varchar not null,
    source varchar not null,
    keyed_with_source boolean not null,
    first_seen_at timestamptz not null,
    primary key (partner_id, source)
);

-- null only in rows stored before sources were kept: the partner's first source claims them (ops/claim_source)
alter table raw.records add column source varchar;

alter table staging.responses add column source varchar;

alter table ops.quarantine add column source varchar;

-- Cursors per partner and source ('' for a cursor stored before sources were kept, until it is claimed).
create table ops.source_cursors (
    partner_id varchar not null,
    source varchar not null,
    cursor varchar not null,
    updated_at timestamptz not null,
    primary key (partner_id, source)
);

insert into ops.source_cursors
select
    partner_id,
    '' as source,
    cursor,
    updated_at
from ops.cursors;

drop table ops.cursors;

alter table ops.source_cursors rename to cursors;

-- A response's versions are those of one partner, source and response id.
create or replace view raw.versions as
select
    records.*,
    pages.naive_timezone,
    row_number() over (
        partition by records.partner_id, records.source, coalesce(records.source_id, records.record_id)
        order by records.fetched_at, records.ordinal
    ) as version_no,
    count(*) over (
        partition by records.partner_id, records.source, coalesce(records.source_id, records.record_id)
    ) as versions
from raw.records as records
join raw.pages as pages on pages.page_id = records.page_id;
