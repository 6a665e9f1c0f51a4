-- Respondents erased on request (`pipeline erase`): who erased whom and when, under the respondent key (the HMAC
-- of partner and response id, as in core), never the partner's response id in clear. A pull that meets an erased
-- response again leaves it out and counts it with the duplicates; refused says how often that happened.
create table ops.erased (
    respondent_key varchar primary key,
    partner_id varchar not null,
    erased_at timestamptz not null,
    erased_by varchar not null,
    versions_removed bigint not null,
    refused bigint not null default 0,
    last_refused_at timestamptz
);
