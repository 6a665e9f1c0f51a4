-- core.answers carries its response's wave (the loader writes it with the answers, which it only ever
-- replaces together with their response), so that the marts built for one wave scan that wave's answers and
-- skip the row groups of the others.
alter table core.answers add column wave varchar;

update core.answers
set wave = responses.wave
from core.responses as responses
where responses.respondent_key = core.answers.respondent_key;
