-- What each derived artefact (the marts, the analyst file) was last built from: a digest of its inputs
-- (ops/marts_inputs.sql, the SQL and documentation that make it), so that a run with nothing new skips it.
create table ops.built_from (
    artefact varchar primary key,
    inputs_sha256 varchar not null,
    built_at timestamptz not null
);
