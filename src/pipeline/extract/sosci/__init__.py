"""SoSci Survey connector: the finished cases of one questionnaire, over the project's API for data retrieval.

Followed: SoSci Survey's manual, "API for Data Retrieval" / "Datenabruf via API"
(https://www.soscisurvey.de/help/doku.php/en:results:data-api, de:results:data-api), with "Additional
Variables in the Data Set" (en:results:variables), "Encoding and output values" (en:results:values) and
"Multiple Choice" (en:create:questions:checkbox). What they do not say is assumed as written in
docs/decisions/sosci.md.

API: the project owner creates an API link under Collected Data → API for Data Retrieval (function "JSON"), of
the form {base_url}/{project}/?act={key}. The key in `act` is the partner's secret: it is sent only as that
query parameter and never appears in a log line, an error or raw.pages (requests are described without it).
The answer is JSON {"metadata": {"datetime": server time, "filter", ...}, "errors": [...] (only when there are
some), "data": {"C<CASE>": {variable: value}}}; a variable without a value is not listed. Parameters used:
`cases` (e.g. 101-250), `vList` (only these variables) and `changed` (only cases whose data changed after a
time, ISO 8601 in server time).

Pull: one listing (vList=CASE,QUESTNNR,MODE,FINISHED, from the cursor's time on) says which cases exist, then
the cases are fetched in ranges of `cases_per_page` listed cases (the API itself has no pages). Only cases of
the registry's `questionnaire` (QUESTNNR), of a mode other than "pretest" and FINISHED = 1 are loaded
(`finished_only`, `include_pretest` change that); the others are skipped at extraction and counted in the log,
never fetched as responses: a case finished later is pulled then, since finishing changes its data.

Cursor: {"changed": T}, T the listing's metadata.datetime (the server's own clock). It goes with the last page
only (every other Page.cursor is None), so an interrupted pull starts again from the previous cursor. The next
pull asks for `changed` = T minus OVERLAP: cases saved in the second of the listing are read again and count as
unchanged. A respondent who resumes a case changes its data, so it comes back (a new version, "updated"); an
edit in SoSci's data view may not, so every `reread_days` (default 7) a pull reads all cases again, which also
tells which cases were deleted there (gone at the partner).

Values: submitted_at is LASTDATA (time of the last data, i.e. of finishing), server-local time without a zone,
read in `timezone` (default Europe/Berlin; the connector's naive_timezone). Numbers stay JSON numbers. A value
among `missing_codes` (default -9, "not answered" in a question that was shown) is removed, as the API does
for open questions without an answer; residual options such as -1 ("weiß nicht") stay and are recoded in the
registry (e.g. `recode: {zustimmung5: {"-1": wn}}`). The option variables of the questions listed in
`multiple_choice` (AB01_01, AB01_02, ...: 2 = checked, 1 = not checked) become true / false, so that they map
as "ITEM=option" columns like other tools' ticks. SERIAL (personal participation code), REF (the reference
passed in the link) and the address fields vAddress would add are removed at extraction with the direct
identifiers and the partner's identifier_fields. urllib3's DEBUG line of each request is logged with the key
replaced by "…".
"""

from pipeline.extract.sosci.client import SosciConnector
from pipeline.extract.sosci.settings import SosciSettings

__all__ = ["SosciConnector", "SosciSettings"]
