-- Raw: every page as received (its hash and size) and every new version of a response, identifiers removed.

create schema raw;

create table raw.pages (
    page_id varchar primary key,
    run_id varchar not null,
    partner_id varchar not null,
    fetched_at timestamptz not null,
    request varchar not null,
    -- of the bytes exactly as received, before identifiers were removed
    sha256 varchar not null,
    bytes bigint not null,
    n_records bigint not null
);

create table raw.records (
    record_id varchar primary key,
    partner_id varchar not null,
    source_id varchar,
    page_id varchar not null,
    ordinal bigint not null,
    fetched_at timestamptz not null,
    record_sha256 varchar not null,
    record json not null
);
