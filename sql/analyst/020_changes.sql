-- reads: analyst.core.responses (analyst/010_core), core.responses
-- writes: analyst_changed, analyst_stale
-- Which respondents the analyst file holds in another version than core: `analyst_changed` the current versions
-- it lacks (new or updated), `analyst_stale` the versions it holds that are no longer current (updated, erased or
-- withdrawn). A response's answers change only with its updated_at (the loader replaces both for a batch, with
-- the batch's time), so the pair (respondent_key, updated_at) tells what changed. Returns the stale count and
-- how many of them core no longer holds at all (`gone`: erased or withdrawn), whose answers deleted from a copy
-- would stay in its freed blocks: the caller then writes the file whole.
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

select
    count(*) as stale,
    count(*) filter (where respondent_key not in (select respondent_key from analyst_changed)) as gone
from analyst_stale
