-- reads: analyst_answers (analyst/010_core), analyst_changed (analyst/020_changes),
--     analyst_responses (analyst/010_core)
-- writes: analyst.core.answers, analyst.core.responses
-- The current versions the analyst file lacks, with their coded answers.
insert into analyst.core.responses
from analyst_responses
semi join analyst_changed using (respondent_key);

-- a respondent's answers side by side, so that DuckDB keeps each row group's keys as a small dictionary (a sixth
-- of the file's size); sorted by the key's hash, which groups them as well as the key and sorts faster
insert into analyst.core.answers
from analyst_answers
semi join analyst_changed using (respondent_key)
order by hash(respondent_key)
