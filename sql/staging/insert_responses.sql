-- The respondent key is HMAC-SHA256(key, partner_id || ':' || key scope || source_id), computed here from the
-- key's inner and outer pads so that neither the key nor the partner's id ever needs to leave the database call.
-- The key scope is '' for the partner's first source and 'source:' for later ones (ops.sources).
-- encode() hashes the UTF-8 bytes, as Python's hmac does (a cast to blob refuses an id such as 'Käfertal-0').
-- org_type is the partner's, or the one each respondent gave (contract.py).
insert into staging.responses (
    record_id,
    partner_id,
    source_id,
    respondent_key,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    loaded_at,
    source
)
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
    $partner_id,
    source_id,
    sha256($outer_pad || unhex(sha256($inner_pad || encode($partner_id || ':' || key_scope || source_id)))),
    org_type,
    wave,
    instrument_version,
    submitted_at,
    $loaded_at,
    source
from scoped
