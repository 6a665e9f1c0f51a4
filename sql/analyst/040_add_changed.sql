-- reads: analyst_answers (analyst/010_core), analyst_changed (analyst/020_changes),
--     analyst_responses (analyst/010_core)
-- writes: analyst.core.answers, analyst.core.responses
-- The current versions the analyst file lacks, with their coded answers.
insert into analyst.core.responses
from analyst_responses
semi join analyst_changed using (respondent_key);

insert into analyst.core.answers
from analyst_answers
semi join analyst_changed using (respondent_key)
order by respondent_key, item_code
