-- reads: batch_classified (temp table of raw/classify_batch or raw/reload_batch), ops.sources,
--     valid_responses (registered by pipeline.load.loader)
-- writes: batch_responses
-- The batch's valid responses as staging and core keep them, made once: the statements after it read this small
-- table instead of picking the batch out of staging.responses, which holds every version ever loaded.
-- The respondent key: ops.respondent_key (migration 100), the key scope as ops.sources says.
-- org_type is the partner's, or the one each respondent gave (contract.py).
create or replace temp table batch_responses as
with scoped as (
    select
        valid_responses.*,
        batch_classified.source,
        case when ops.sources.keyed_with_source then ops.sources.source || ':' else '' end as key_scope
    from valid_responses
    join batch_classified on batch_classified.record_id = valid_responses.record_id
    join ops.sources on ops.sources.partner_id = $partner_id and ops.sources.source = batch_classified.source
)

select
    record_id,
    $partner_id as partner_id,
    source_id,
    ops.respondent_key($inner_pad, $outer_pad, $partner_id, key_scope, source_id) as respondent_key,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    $loaded_at as loaded_at,
    source
from scoped
