-- The respondent key is HMAC-SHA256(key, partner_id || ':' || source_id), computed here from the key's
-- inner and outer pads so that neither the key nor the partner's id ever needs to leave the database call.
-- encode() hashes the UTF-8 bytes, as Python's hmac does (a cast to blob refuses an id such as 'Käfertal-0').
-- org_type is the partner's, or the one each respondent gave (contract.py).
insert into staging.responses
select
    record_id,
    $partner_id,
    source_id,
    sha256($outer_pad || unhex(sha256($inner_pad || encode($partner_id || ':' || source_id)))) as respondent_key,
    org_type,
    wave,
    instrument_version,
    submitted_at,
    $loaded_at
from valid_responses
