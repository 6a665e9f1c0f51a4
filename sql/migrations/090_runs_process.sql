-- The process that writes a run's row (`<boot id>:<pid>:<start time>`, see pipeline.processes): a row left at
-- running whose process is gone was interrupted (killed, or the machine stopped). Null for rows written before.
alter table ops.runs add column process varchar;
