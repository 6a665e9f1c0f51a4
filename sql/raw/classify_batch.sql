-- reads: batch_records (registered by pipeline.load.loader), ops.erased, ops.rejected_by_partner, raw.records,
--     run_seen (registered by pipeline.load.loader)
-- writes: batch_classified
-- Decide for every response of the batch (all from the partner's source $source) whether it is new (a first or
-- changed version), unchanged since it was last stored, or a duplicate within this run. A version is compared
-- without the connector's volatile fields ($volatile, a JSON merge patch removing them; '{}' for most tools): a
-- review state set in ODK Central changes no answer. A response the partner had rejected (ops.rejected_by_partner)
-- and lists again is new: it goes back into core. Reads the registered Arrow table batch_records. A response
-- erased on request (ops.erased, by its respondent key) that the partner still lists is left out and counted as
-- a duplicate, so the accounting holds without a category of its own.
create or replace temp table batch_classified as
with incoming as (
    select
        page_id,
        ordinal,
        position,
        source_id,
        submitted_at,
        record,
        case
            when $volatile = '{}' then sha256(record)
            else sha256(json_merge_patch(record::json, $volatile::json)::varchar)
        end as record_sha256,
        -- a response listed twice in one batch: its last listing is the one that counts
        row_number() over (
            partition by coalesce(source_id, 'position:' || position::varchar)
            order by position desc
        ) as nth_from_last
    from batch_records
),

stored as (
    select
        source_id,
        arg_max(record_sha256, fetched_at) as record_sha256
    from raw.records
    where partner_id = $partner_id
        and source = $source
        and source_id in (select source_id from incoming)
    group by source_id
),

seen as (
    select distinct source_id, record_sha256 from run_seen
),

erased as (
    select respondent_key from ops.erased where partner_id = $partner_id
),

rejected as (
    select source_id from ops.rejected_by_partner where partner_id = $partner_id and source = $source
)

select
    incoming.page_id,
    incoming.ordinal,
    $source as source,
    incoming.source_id,
    incoming.submitted_at,
    incoming.record,
    incoming.record_sha256,
    incoming.page_id || ':' || incoming.ordinal::varchar as record_id,
    erased.respondent_key as erased_key,
    case
        when erased.respondent_key is not null then 'duplicate'
        when incoming.nth_from_last > 1 then 'duplicate'
        when seen.source_id is not null then 'duplicate'
        when rejected.source_id is not null then 'new'
        when stored.record_sha256 = incoming.record_sha256 then 'unchanged'
        else 'new'
    end as disposition
from incoming
left join stored on stored.source_id = incoming.source_id
left join seen
    on seen.source_id = incoming.source_id
    and seen.record_sha256 = incoming.record_sha256
left join rejected on rejected.source_id = incoming.source_id
left join erased
    on erased.respondent_key
    = ops.respondent_key($inner_pad, $outer_pad, $partner_id, $key_scope, incoming.source_id)
