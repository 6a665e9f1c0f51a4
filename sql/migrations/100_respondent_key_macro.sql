-- The respondent key: HMAC-SHA256(key, partner_id ':' key_scope source_id), from the key's inner and outer pads
-- (RFC 2104), so that the key itself never needs to be in a statement. key_scope is '' for a partner's first
-- source and '<source>:' for later ones (ops.sources). encode() hashes the UTF-8 bytes, as Python's hmac does
-- (a cast to blob refuses an id such as 'Käfertal-0'). Loading, the erased check and erasure all call this one.
create or replace macro ops.respondent_key(inner_pad, outer_pad, partner_id, key_scope, source_id) as
    sha256(outer_pad || unhex(sha256(inner_pad || encode(partner_id || ':' || key_scope || source_id))));
