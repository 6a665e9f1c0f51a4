-- reads: analyst.core.responses (analyst/010_core), core.responses
-- writes: analyst_changed, analyst_stale
-- Which respondents the analyst file holds in another version than core: `analyst_changed` the current versions
-- it lacks (new or updated), `analyst_stale` the versions it holds that are no longer current (updated; a
-- respondent erased or withdrawn has the file written whole, analyst/005_gone). A response's answers change
-- only with its updated_at (the loader replaces both for a batch, with the batch's time), so the pair
-- (respondent_key, updated_at) tells what changed. Returns the stale count.
create or replace temp table analyst_changed as
select
    respondent_key,
    updated_at
from core.responses
anti join analyst.core.responses using (respondent_key, updated_at);

create or replace temp table analyst_stale as
select respondent_key
from analyst.core.responses
anti join core.responses using (respondent_key, updated_at);

select count(*) as stale from analyst_stale
