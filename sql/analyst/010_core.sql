-- reads: core.answer_options, core.answers, core.items, core.org_types, core.partners, core.responses, core.waves
-- writes: analyst.core.answer_options, analyst.core.answers, analyst.core.items, analyst.core.org_types,
--     analyst.core.partners, analyst.core.responses, analyst.core.waves, analyst_answers, analyst_responses
-- The analyst file's core: current responses and answers under their pseudonymous respondent keys, with the
-- reference tables that label them. No raw payloads, no partner record ids, no quarantine: nothing that leads
-- back to a person. Runs on the working connection with the file attached as `analyst`: a new file, or a copy of
-- the previous one whose responses and answers the next files bring up to date (the reference tables are small
-- and written whole). `analyst_responses` and `analyst_answers` are what the file shows of core.
create or replace temp view analyst_responses as
select
    respondent_key,
    partner_id,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    updated_at
from core.responses;

-- coded answers only (a multiple choice shown with nothing ticked is a row without a code): free texts reach
-- analysts as marts.free_texts scrubs them
create or replace temp view analyst_answers as
select
    respondent_key,
    item_code,
    answer_code,
    value
from core.answers
where answer_text is null;

create schema if not exists analyst.core;
create table if not exists analyst.core.responses as from analyst_responses with no data;
create table if not exists analyst.core.answers as from analyst_answers with no data;

create or replace table analyst.core.items as select * from core.items;
create or replace table analyst.core.answer_options as select * from core.answer_options;
create or replace table analyst.core.org_types as select * from core.org_types;
create or replace table analyst.core.waves as select * from core.waves;
create or replace table analyst.core.partners as select * from core.partners;
