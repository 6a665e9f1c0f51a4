-- reads: nothing
-- writes: core.answers, core.responses, ops.quarantine, staging.answers, staging.responses
-- Everything derived from raw, emptied before a rebuild loads it again (raw, runs and cursors stay).
delete from core.answers;
delete from core.responses;
delete from staging.answers;
delete from staging.responses;
delete from ops.quarantine;
