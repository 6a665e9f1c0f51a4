-- reads: core.answer_options, core.answers, core.items, core.org_types, core.partners, core.responses, core.waves
-- writes: analyst.core.answer_options, analyst.core.answers, analyst.core.items, analyst.core.org_types,
--     analyst.core.partners, analyst.core.responses, analyst.core.waves
-- The analyst file's core: current responses and answers under their pseudonymous respondent keys, with the
-- reference tables that label them. No raw payloads, no partner record ids, no quarantine: nothing that leads
-- back to a person. Runs on the working connection with the new file attached as `analyst`.
create schema analyst.core;

create table analyst.core.responses as
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
create table analyst.core.answers as
select
    respondent_key,
    item_code,
    answer_code,
    value
from core.answers
where answer_text is null;

create table analyst.core.items as select * from core.items;
create table analyst.core.answer_options as select * from core.answer_options;
create table analyst.core.org_types as select * from core.org_types;
create table analyst.core.waves as select * from core.waves;
create table analyst.core.partners as select * from core.partners;
