-- reads: analyst_stale (analyst/020_changes)
-- writes: analyst.core.answers, analyst.core.responses
-- The versions no longer current leave the analyst file: run only when there are such, since it scans every
-- answer the file holds.
delete from analyst.core.answers
where respondent_key in (select respondent_key from analyst_stale);

delete from analyst.core.responses
where respondent_key in (select respondent_key from analyst_stale)
