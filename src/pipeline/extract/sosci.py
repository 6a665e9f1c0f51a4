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

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import duckdb
import pyarrow as pa
import requests
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import PartnerError, PartnerUnreachable, PayloadError
from pipeline.extract import RECORD_SCHEMA, FormLabels, Page, TimeZoneName, http
from pipeline.extract.json_records import UNDECODABLE, key_path, page_records, problem

if TYPE_CHECKING:
    from pipeline.settings import Settings

_log = logging.getLogger(__name__)

# Variables SoSci adds to every case (interview identification, times, progress, quality indicators).
METADATA_FIELDS = frozenset(
    {
        "CASE",
        "QUESTNNR",
        "MODE",
        "LANGUAGE",
        "STARTED",
        "LASTDATA",
        "FINISHED",
        "Q_VIEWER",
        "LASTPAGE",
        "MAXPAGE",
        "TIME_SUM",
        "TIME_RSI",
        "MISSING",
        "MISSREL",
        "DEG_TIME",
    }
) | {f"TIME{page:03d}" for page in range(1, 1000)}  # fmt: skip  (dwell time per questionnaire page)
# Identify a respondent or may carry what does: removed at extraction with the direct identifiers.
DROPPED_METADATA = ("SERIAL", "REF", "UID", "EMAIL", "MOBILE")
LISTING_VARIABLES = "CASE,QUESTNNR,MODE,FINISHED"
SERVER_TIME = "%Y-%m-%d %H:%M:%S"
OVERLAP = timedelta(seconds=60)
MAX_CASES_PER_PAGE = 5_000

_KEY_IN_URL = re.compile(r"([?&]act=)[^&\s\"']+")

_FILTER_SQL = """
with kept as (
    select ordinal, source_id, submitted_at, record::json as rec
    from sosci_page
    -- a case holding text that is no Unicode is kept whatever it says, to be quarantined with its fields named
    where json_exists(record, $undecodable)
        or (
            ($questionnaire is null or json_extract_string(record, '$.QUESTNNR') = $questionnaire)
            and ($include_pretest or coalesce(json_extract_string(record, '$.MODE'), '') <> 'pretest')
            and (not $finished_only or json_extract_string(record, '$.FINISHED') = '1')
        )
),
patched as (
    select
        ordinal,
        source_id,
        submitted_at,
        rec,
        list_filter(
            json_keys(rec),
            lambda k: list_contains($missing_codes, json_extract_string(rec, '$."' || k || '"'))
                or (list_contains($multiple_choice, split_part(k, '_', 1))
                    and regexp_full_match(split_part(k, '_', 2), '[0-9]+'))
        ) as changed_keys
    from kept
)
select
    row_number() over (order by ordinal)::bigint as ordinal,
    source_id,
    submitted_at,
    json_merge_patch(
        rec,
        to_json(map(
            changed_keys,
            list_transform(
                changed_keys,
                lambda k: case
                    when list_contains($missing_codes, json_extract_string(rec, '$."' || k || '"')) then null
                    when json_extract_string(rec, '$."' || k || '"') = '2' then 'true'::json
                    when json_extract_string(rec, '$."' || k || '"') = '1' then 'false'::json
                end
            )
        ))
    )::varchar as record
from patched
order by ordinal
"""


class _RedactKey(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string included: the API key must not reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and any("act=" in str(arg) for arg in record.args):
            record.msg, record.args = _KEY_IN_URL.sub(r"\1…", record.getMessage()), None
        return True


_REDACT_KEY = _RedactKey()


class SosciSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sosci"]
    base_url: str = Field(pattern=r"^https?://")  # e.g. https://www.soscisurvey.de or a university's own server
    project: str = Field(pattern=r"^[A-Za-z0-9_-]+$")  # the project's name, as in its URLs
    questionnaire: str | None = Field(default=None, min_length=1)  # QUESTNNR; None: every questionnaire
    timezone: TimeZoneName = "Europe/Berlin"
    finished_only: bool = True
    include_pretest: bool = False
    missing_codes: tuple[int, ...] = (-9,)
    multiple_choice: tuple[str, ...] = ()  # question ids (AB01) whose option variables are checkboxes
    cases_per_page: int = Field(default=500, ge=1, le=MAX_CASES_PER_PAGE)
    # a data edit in SoSci's data view may keep the case's data time: every reread_days a pull reads all again
    reread_days: int | None = Field(default=7, ge=1)
    volatile_fields: ClassVar[tuple[str, ...]] = ()  # every variable sent is part of a case's version

    @property
    def source(self) -> str:
        """Where the cases come from: one project's questionnaire (another questionnaire is another survey)."""
        return f"sosci:{self.project}/{self.questionnaire or '*'}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> SosciConnector:
        return SosciConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """SoSci's names of a case's id and of the time taken as its submission (a partner reads them)."""
        return {"source_id": "CASE", "submitted_at": "LASTDATA"}


class SosciConnector:
    metadata_fields = METADATA_FIELDS
    omits_unanswered = True  # the API lists no variable without a value

    def __init__(
        self,
        partner_id: str,
        config: SosciSettings,
        key: str,
        settings: Settings,
        drop: tuple[str, ...],
        until: float | None = None,
    ) -> None:
        self.partner_id = partner_id
        self.config = config
        self.naive_timezone = config.timezone
        self._key = key
        self._session = http.session(partner_id, settings, until)
        self._drop = (*drop, *DROPPED_METADATA)
        self._url = f"{config.base_url.rstrip('/')}/{config.project}/"
        for logger in ("urllib3.connectionpool", "urllib3.util.retry"):
            logging.getLogger(logger).addFilter(_REDACT_KEY)  # a filter already there is not added twice

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Pages of the finished cases changed since the cursor's time (all when None), range by range."""
        changed = _changed_since(self.partner_id, cursor)
        duck = duckdb.connect()
        try:
            listing, doc = self._get({"vList": LISTING_VARIABLES, "changed": changed})
            listed = page_records(duck, self.partner_id, listing, "$.data.*", "CASE", "LASTDATA", ())
            server_time = self._server_time(doc)
            new_cursor = json.dumps({"changed": server_time})
            kept = self._kept(duck, listed)
            ranges = _ranges(kept, self.config.cases_per_page)
            if not ranges:
                yield Page(self._request({"changed": changed}), listing, listed.slice(0, 0), new_cursor)
                return
            for n, (first, last) in enumerate(ranges, start=1):
                params = {"cases": f"{first}-{last}", "changed": changed}
                body, _ = self._get(params)
                records = self._records(duck, body)
                yield Page(self._request(params), body, records, new_cursor if n == len(ranges) else None)
        finally:
            duck.close()

    def loaded(self, pages: list[Page]) -> None:
        """Nothing to do: the cursor, stored with the last page, is all SoSci needs."""

    def form_labels(self) -> FormLabels:
        """One listing of the project's case numbers proves the link and its key; the data API shows no answer
        labels, so none are compared."""
        _, doc = self._get({"vList": "CASE"})
        return FormLabels(f"project {self.config.project}, {len(doc.get('data') or {})} cases listed")

    def _kept(self, duck: duckdb.DuckDBPyConnection, listed: pa.Table) -> list[int]:
        """The listed cases that pass the filters, ascending (their case numbers)."""
        cases = self._filtered(duck, listed).column("source_id").to_pylist()
        try:
            return sorted(int(case) for case in cases)
        except (TypeError, ValueError) as exc:
            raise PayloadError(self.partner_id, "the listing holds a CASE that is no number") from exc

    def _records(self, duck: duckdb.DuckDBPyConnection, body: bytes) -> pa.Table:
        records = page_records(duck, self.partner_id, body, "$.data.*", "CASE", "LASTDATA", self._drop)
        kept = self._filtered(duck, records)
        if kept.num_rows < records.num_rows:
            _log.info(
                "partner %s: %d of %d cases skipped (unfinished, pretest or another questionnaire)",
                self.partner_id, records.num_rows - kept.num_rows, records.num_rows,
            )  # fmt: skip
        return kept

    def _filtered(self, duck: duckdb.DuckDBPyConnection, records: pa.Table) -> pa.Table:
        """Records of the configured questionnaire, mode and completion, missing codes and checkboxes resolved."""
        config = self.config
        duck.register("sosci_page", records)
        try:
            table = duck.sql(
                _FILTER_SQL,
                params={
                    "questionnaire": config.questionnaire,
                    "include_pretest": config.include_pretest,
                    "finished_only": config.finished_only,
                    "missing_codes": [str(code) for code in config.missing_codes],
                    "multiple_choice": list(config.multiple_choice),
                    "undecodable": key_path(UNDECODABLE),
                },
            ).to_arrow_table()
        except duckdb.Error as exc:
            raise PayloadError(self.partner_id, f"cases are not the JSON expected ({problem(exc)})") from exc
        finally:
            duck.unregister("sosci_page")
        return table.cast(RECORD_SCHEMA)

    def _server_time(self, doc: dict[str, Any]) -> str:
        stamp = (doc.get("metadata") or {}).get("datetime")
        try:
            datetime.strptime(stamp, SERVER_TIME)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise PayloadError(
                self.partner_id, f"the API's metadata.datetime {str(stamp)[:40]!r} is not a server time"
            ) from exc
        return stamp  # type: ignore[return-value]

    def _request(self, params: dict[str, str | None]) -> str:
        """What a page was, for raw.pages and messages: the API link without its key."""
        shown = " ".join(f"{name}={value}" for name, value in params.items() if value)
        return f"GET {http.redact(self._url)}?act=… {shown}".rstrip()

    def _get(self, params: dict[str, str | None]) -> tuple[bytes, dict[str, Any]]:
        """One call of the API link: the body as received and the parsed document, errors named without the key."""
        query = {"act": self._key, **{name: value for name, value in params.items() if value}}
        where = self._request(params)
        response = self._session.get(self._url, params=query, where=where)
        status = response.status_code
        if status in (401, 403):
            raise PartnerError(
                self.partner_id,
                f"{where} answered HTTP {status}: SoSci Survey refused the API key; check the key in the partner's "
                "secret variable (Collected Data → API for Data Retrieval) and that the link is not deactivated",
            )
        if status == 404:
            raise PartnerError(
                self.partner_id,
                f"{where} answered HTTP 404: connector.base_url and connector.project do not lead to a SoSci "
                "Survey project",
            )
        if status in http.RETRY_STATUSES:
            raise PartnerUnreachable(self.partner_id, f"{where} answered HTTP {status} after retries")
        if status >= 400:
            raise PartnerError(self.partner_id, f"{where} answered HTTP {status}")
        return response.content, self._document(where, response)

    def _document(self, where: str, response: requests.Response) -> dict[str, Any]:
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "data" not in doc:
            raise PartnerError(
                self.partner_id,
                f"{where} answered with {len(response.content)} bytes that are not the API's JSON "
                f"({response.headers.get('Content-Type', 'no content type')}): check that the key belongs to an "
                "API link of the function 'JSON' in project " + repr(self.config.project),
            )
        if doc.get("errors"):
            raise PartnerError(self.partner_id, f"{where}: SoSci Survey reported {str(doc['errors'])[:200]}")
        return doc


def _changed_since(partner_id: str, cursor: str | None) -> str | None:
    """The `changed` parameter for a cursor: its server time minus OVERLAP, in the API's ISO form."""
    if cursor is None:
        return None
    try:
        stamp = datetime.strptime(json.loads(cursor)["changed"], SERVER_TIME)
    except (ValueError, TypeError, KeyError):
        raise PartnerError(
            partner_id,
            f'the stored cursor {cursor[:80]!r} is not SoSci\'s {{"changed": "YYYY-MM-DD hh:mm:ss"}}: if the '
            "partner changed tools, delete its row in ops.cursors to pull everything again",
        ) from None
    return (stamp - OVERLAP).isoformat(timespec="seconds")


def _ranges(cases: list[int], per_page: int) -> list[tuple[int, int]]:
    """Case ranges of at most per_page listed cases each (first and last case of each chunk)."""
    return [(cases[i], cases[min(i + per_page, len(cases)) - 1]) for i in range(0, len(cases), per_page)]
