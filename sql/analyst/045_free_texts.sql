-- reads: analyst_changed (analyst/020_changes), analyst_stale (analyst/020_changes), marts.free_texts
-- writes: analyst.marts.free_texts
-- The free texts of a file copied from the previous one, brought up to date in place like its answers: a
-- respondent's rows depend on that respondent's answers alone while the marts' SQL and reference tables stay the
-- same (the file is written whole when they change, pipeline.publish.analyst), so only the respondents that
-- changed have other rows now. The table holds a row per text (a million at 1M responses), and writing it whole
-- took a quarter of a night's refresh.
delete from analyst.marts.free_texts
where respondent_key in (
    select respondent_key from analyst_changed
    union all
    select respondent_key from analyst_stale
);

insert into analyst.marts.free_texts by name
from marts.free_texts
semi join analyst_changed using (respondent_key)
