-- Core: the current version of every response (one row per respondent) and its answers (one row per answer),
-- plus the reference tables that label them.

create schema core;

create table core.responses (
    respondent_key varchar primary key,
    partner_id varchar not null,
    org_type varchar not null,
    wave varchar not null,
    instrument_version varchar not null,
    submitted_at timestamptz not null,
    record_id varchar not null,
    first_loaded_at timestamptz not null,
    updated_at timestamptz not null
);

create table core.answers (
    respondent_key varchar not null,
    item_code varchar not null,
    answer_code varchar,
    -- the scale value; null for "weiß nicht", "keine Angabe", yes/no, multiple choice and free text
    value double,
    answer_text varchar
);

create table core.items (
    instrument_version varchar not null,
    item_code varchar not null,
    item_type varchar not null,
    item_label varchar not null,
    field_code varchar,
    field_number integer,
    field_label varchar,
    theme_code varchar,
    theme_label varchar,
    special_category boolean not null,
    primary key (instrument_version, item_code)
);

create table core.answer_options (
    item_code varchar not null,
    answer_code varchar not null,
    answer_label varchar not null,
    value double,
    ordinal integer not null,
    primary key (item_code, answer_code)
);

create table core.org_types (
    org_type varchar primary key,
    org_type_label varchar not null
);

create table core.waves (
    wave varchar primary key,
    wave_label varchar not null,
    instrument_version varchar not null,
    opens date not null,
    closes date not null
);

create table core.partners (
    partner_id varchar primary key,
    partner_name varchar not null,
    org_type varchar not null
);
