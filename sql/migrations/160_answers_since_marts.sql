-- The answers changed since the marts were last built, so that the next build adds and subtracts them instead of
-- aggregating every answer of a wave again (pipeline.transform.marts). For each respondent changed since that
-- build: its answers as the marts counted them (sign -1, logged when the loader or a withdrawal first replaces or
-- removes them) and its answers now (sign +1). Written only while marts exist ('marts answers' in
-- ops.built_from); emptied by every build, in the build's transaction.
create table ops.answers_since_marts (
    sign tinyint not null,
    respondent_key varchar not null,
    item_code varchar not null,
    answer_code varchar,
    value double,
    answer_text varchar,
    wave varchar,
    org_type varchar,
    record_key integer
);
