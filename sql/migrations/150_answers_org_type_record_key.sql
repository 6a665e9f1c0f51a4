-- core.answers carries its response's organisation type and record key beside its wave (migration 140), so
-- that the marts scan the answers alone: joining 35 million answers to their responses by a 64-character key,
-- and working each answer's record key out of its respondent key, took most of a marts build at 1M responses.
-- The record key of the cell key method (pipeline.disclosure.cell_key): uniform in [0, 2^20), from the first hex
-- digits of the respondent key (a SHA-256 digest; a key the pipeline did not make falls back to a hash).
create or replace macro core.record_key(respondent_key) as
    coalesce(try_cast('0x' || left(respondent_key, 5) as integer), (hash(respondent_key) % 1048576)::integer);

alter table core.answers add column org_type varchar;

alter table core.answers add column record_key integer;

update core.answers
set
    org_type = responses.org_type,
    record_key = core.record_key(responses.respondent_key)
from core.responses as responses
where responses.respondent_key = core.answers.respondent_key;
