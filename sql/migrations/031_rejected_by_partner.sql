-- Responses the partner rejected in its review (ODK Central's reviewState "rejected"): not loaded, removed from
-- core when loaded earlier, and left out of rebuilds and replays, until the partner lists them unrejected again.
-- Raw keeps the versions loaded before the rejection.
create table ops.rejected_by_partner (
    partner_id varchar not null,
    source varchar not null,
    source_id varchar not null,
    rejected_at timestamptz not null,
    run_id varchar not null,
    primary key (partner_id, source, source_id)
);
