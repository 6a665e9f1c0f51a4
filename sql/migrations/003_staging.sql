-- Staging: valid response versions, typed and mapped onto instrument item codes.

create schema staging;

create table staging.responses (
    record_id varchar primary key,
    partner_id varchar not null,
    source_id varchar not null,
    respondent_key varchar not null,
    org_type varchar not null,
    wave varchar not null,
    instrument_version varchar not null,
    submitted_at timestamptz not null,
    loaded_at timestamptz not null
);

create table staging.answers (
    record_id varchar not null,
    item_code varchar not null,
    -- null for free text
    answer_code varchar,
    answer_text varchar
);
