-- reads: nothing
-- writes: core.answers, core.responses, ops.answers_since_marts, ops.built_from, ops.quarantine, staging.answers,
--     staging.responses
-- Everything derived from raw, emptied before a rebuild loads it again (raw, runs and cursors stay); the marts
-- are built whole after it, so the loads keep no log of changes for them.
delete from core.answers;
delete from core.responses;
delete from staging.answers;
delete from staging.responses;
delete from ops.quarantine;
delete from ops.answers_since_marts;
delete from ops.built_from where artefact = 'marts answers';
