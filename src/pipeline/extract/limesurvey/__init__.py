"""LimeSurvey RemoteControl 2 connector: the complete responses of one survey, pulled in id ranges over JSON-RPC.

API: POST {base_url}{endpoint} (default /index.php/admin/remotecontrol) with {"method", "params": [positional],
"id"}; the reply is {"id", "result", "error"}. get_session_key(username, password) opens a session (the password
is the partner's secret), release_session_key closes it, always, also after an error. A key that has expired
("Invalid session key", spelt "Invalid Session key" by one method) leads to one new login, never more.
export_responses(key, survey, "json", language, completion, "code", "short", from id, to id, fields) returns the
export as base64 of UTF-8 JSON, {"responses": [{...}]}, or on older servers each row wrapped as {"<id>": {...}};
both are read. Values are strings (id and lastpage numbers), SQL NULL is null, an unanswered or unticked item
"" (multiple choice is one column per option, `Q[SQ001]` holding "Y" or "").

Decisions:
- Only complete responses (submitdate set) enter the pipeline: each id range is exported with completion
  "complete". Incomplete responses never reach raw, core or the marts; they are only counted by id, with a cheap
  export of completion "incomplete" over the same range that asks for the id column alone.
- The cursor is {"from_id": N}: N is the lowest id that was still incomplete at the last pull, else one past the
  highest complete id seen. A response completed later is therefore pulled then; the complete ones re-read
  above it count as unchanged downstream. An abandoned response keeps the cursor where it is, so every pull
  re-reads the responses after it: cheap for the few thousand a survey has. A response edited in LimeSurvey's
  admin after it was pulled is seen when it lies above the cursor, or else at the next full read (the API has
  no "changed since"): every `reread_days` (default 7) a pull starts at the first id, and what it reads again
  counts as unchanged, an edited response as updated.
- Pages are id ranges from_id..from_id + ids_per_page - 1 (inclusive). Which ids exist comes from the data
  itself: a range past the end exports {"responses": []}. After the first range holding no response at all, one
  open-ended id-only export (completion "all") says whether any response lies beyond: if so the pull jumps to
  it (a gap of deleted responses wider than a range), else it ends. "No Data, could not get max id." means a
  survey without any response: an empty pull, not a failure. A server that ignores the range is an error, and
  no pull reads more than MAX_RANGES ranges.
- submitted_at is `submitdate` as sent: server-local time without a zone, read in the partner's `timezone`
  (default Europe/Berlin; the connector's naive_timezone) and stored as UTC; the hour that exists twice when
  daylight saving ends is read as its earlier instant, the skipped hour with the offset before it. A survey that
  does not record dates sends 1980-01-01 00:00:00 for every complete response: `datestamp` is taken instead where
  the row has one, otherwise the time stays missing and validation quarantines the response ("submission time
  missing or not a date"). Such a partner has to switch on date stamps in the survey's settings (possible before
  activation).
- `token` and `ipaddr` are removed at extraction (direct identifiers), like the partner's identifier_fields, and
  so is `refurl` (the referring page's URL: its query string can carry names or e-mail addresses);
  the other metadata LimeSurvey adds is known (METADATA_FIELDS), so never reported as unmapped.

Answer labels (`pipeline check --connect`): list_questions(key, survey, null, language), then
get_question_properties(key, qid, ["title", "answeroptions"], language) for each question with answer options
(lists, arrays, ranking); `answeroptions` maps each code to {"answer": label, ...}. An array's subquestion
columns `Q[SQ001]` share their question's options.
"""

from pipeline.extract.limesurvey.client import LimeSurveyConnector
from pipeline.extract.limesurvey.settings import LimeSurveySettings

__all__ = ["LimeSurveyConnector", "LimeSurveySettings"]
