-- Operations: what each run did per partner, where each partner's pull stands, and what was rejected.

create table ops.runs (
    run_id varchar not null,
    partner_id varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    -- running | ok | failed; a row left at running was interrupted
    status varchar not null,
    pages bigint not null default 0,
    fetched bigint not null default 0,
    inserted bigint not null default 0,
    updated bigint not null default 0,
    unchanged bigint not null default 0,
    quarantined bigint not null default 0,
    duplicates bigint not null default 0,
    unmapped_fields varchar[],
    error varchar,
    primary key (run_id, partner_id)
);

create table ops.cursors (
    partner_id varchar primary key,
    cursor varchar not null,
    updated_at timestamptz not null
);

create table ops.quarantine (
    record_id varchar not null,
    run_id varchar not null,
    partner_id varchar not null,
    source_id varchar,
    field varchar,
    value varchar,
    check_name varchar not null,
    reason varchar not null,
    schema_version varchar not null,
    quarantined_at timestamptz not null
);
