-- reads: core.responses, previous.core.responses (the previous analyst file, attached read-only)
-- writes: nothing
-- How many respondents the previous analyst file holds that core no longer does (erased, withdrawn): deleted
-- from a copy of that file, their answers would stay in its freed blocks, so the new file is then written whole.
select count(*)
from previous.core.responses
anti join core.responses using (respondent_key)
