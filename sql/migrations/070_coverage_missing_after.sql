-- How many responses without a mapped field prove it gone at the partner: 1 for a tool that sends every question
-- of its form with each response (LimeSurvey, ODK Central, files), more for one that leaves unanswered questions
-- out (Kobo). Runs recorded before this column keep the old rule of 20.
alter table ops.column_coverage add column missing_after bigint default 20;
