-- Schema drift per partner and run: what a partner's responses say about its form having changed. Raw keeps the
-- responses as received and the load goes on; these tables only report.

-- Unknown columns (a partner field no mapping names, kind 'unknown_column', field = the partner's field) and
-- answer codes an item does not allow (kind 'new_code', field = the item, code = the partner's code), with how
-- many of the run's new response versions showed each.
create table ops.drift (
    run_id varchar not null,
    partner_id varchar not null,
    kind varchar not null,
    field varchar not null,
    -- '' for columns
    code varchar not null,
    responses bigint not null,
    detected_at timestamptz not null,
    primary key (run_id, partner_id, kind, field, code)
);

-- For every mapped partner field: how many responses fetched in the run could have carried it (their wave's
-- instrument version asks its item) and how many did (it, or another field mapped to the same target, is a key
-- of the response, answered or not). A field none of them carried was renamed or removed at the partner.
create table ops.column_coverage (
    run_id varchar not null,
    partner_id varchar not null,
    field varchar not null,
    expected bigint not null,
    carried bigint not null,
    primary key (run_id, partner_id, field)
);
