-- Responses in core that a full read no longer found at the partner (deleted there). The pipeline counts them and
-- keeps them (`pipeline erase` removes one); null when the run read from the cursor, which says nothing of them.
alter table ops.runs add column gone bigint;
-- the first of them (ids as the partner knows them), for the run report and `pipeline status`
alter table ops.runs add column gone_ids varchar[];
