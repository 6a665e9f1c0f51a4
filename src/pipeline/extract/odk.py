"""ODK Central connector: the OData Submissions feed of one form, pulled incrementally by submission and edit time.

API: `POST {base}/v1/sessions {"email", "password"}` gives a bearer token (valid 24 h; the password is the
partner's secret, the e-mail is in the registry); then `GET {base}/v1/projects/{project_id}/forms/{form_id}.svc/
Submissions?$top=N&$count=true` with `Authorization: Bearer <token>`. Pages chain by `@odata.nextLink` (an opaque
`$skiptoken`), followed only to base_url's origin, never twice after a page with rows, until a page carries none. An
empty page with a link is followed too while fewer rows were read than `@odata.count` (a few such pages in a row,
then the pull fails and stores no cursor); after the last row it ends the pull. `$orderby` is never sent: Central
refuses it together with `$skiptoken` (501.1). A 401 during the pull (the session ended) logs in again, once; the
session is ended when the pull ends. Central's errors are JSON `{"code": 401.2, "message", "details"}` with a
numeric code: each becomes a PartnerError (PartnerUnreachable if it persisted through the retries) naming the
partner, quoting code and message and saying what to check.

Cursor: Central lists newest first, so the cursor (the latest `__system/submissionDate` or `updatedAt` seen) goes
with the last page only and every other Page.cursor is None: an interrupted pull starts again from the previous
cursor, and what it reads again counts as unchanged. The cursor never passes the moment the pull began by the
server's clock (the first page's Date header): an edit saved during the pull to a submission already read has an
updatedAt below later pages' times and is only caught that way. Incremental pulls ask for
`__system/submissionDate ge T or __system/updatedAt ge T`: `ge` (not `gt`) re-reads the submissions at the cursor
(unchanged), so none saved in the same millisecond is missed, and edited ones come back. Times carry Z (UTC).

Rows: groups are nested objects, flattened inside DuckDB to "group/question" keys (as Kobo and ODK's own exports
name them) in the order served; numbers and booleans become strings, select_multiple stays Central's
space-separated string, a GeoJSON value (geopoint, geotrace, geoshape) is geolocation and is dropped whole, empty
groups vanish, and repeat groups appear only as their `...@odata.navigationLink` (repeats are not pulled).
`__id` is the response id (it survives edits), `__system/submissionDate` the submission time. Direct identifiers
(`__system/submitterId`, `submitterName`, `deviceId`, names, e-mails, the partner's identifier_fields) are removed.
An edited submission comes back with `updatedAt` set and new content: a new version, "updated" downstream, the
latest wins. Central holds only finalised submissions (drafts stay on the device): nothing is incomplete.
Submissions marked deleted (Central lists them only when a filter names `__system/deletedAt`, which this
connector never sends) and encrypted ones Central could not decrypt (`__system/status` set) hold no answers to
load: they are logged as a warning with their ids and not loaded, and one loaded earlier stays in core until the
operator removes it. A deletion is seen by the full read every `reread_days` (default 7): what Central no longer
lists is reported as gone at the partner (run report, `pipeline status`), as for Kobo and LimeSurvey.

Answer labels (`pipeline check --connect`): `GET {base}/v1/projects/{project_id}/forms/{form_id}.xml`, the
published XForm, read by extract/xform.py.

Review states: a submission a reviewer marked "rejected" (`__system/reviewState`) is not loaded unless the
registry says `include_rejected: true`; its id goes with the page (Page.rejected), so one loaded earlier leaves
core, counted with the gone ones, and is kept out of rebuilds until Central lists it unrejected again. The
connector asks for rejected submissions too (no `$filter` on the review state): a review sets `updatedAt`, so the
incremental pull sees a rejection of a submission loaded earlier. A review alone changes `reviewState` and
`updatedAt` only (volatile_fields): the loader compares versions without them, so it is no new version.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote, urlencode, urljoin

import duckdb
import pyarrow as pa
import requests
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import PartnerError, PartnerUnreachable, PayloadError
from pipeline.extract import RECORD_SCHEMA, FormLabels, Page, http, xform
from pipeline.extract.json_records import is_identifier, parsed, records_at

if TYPE_CHECKING:
    from pipeline.settings import Settings

_log = logging.getLogger(__name__)

# Fields Central (and Collect's standard metadata questions) add to every submission: never reported as unmapped.
# Keys holding "@odata." (links to repeat tables) join them as they are seen.
METADATA_FIELDS = frozenset(
    {
        "__id", "__system/submissionDate", "__system/updatedAt", "__system/deletedAt", "__system/submitterId",
        "__system/submitterName", "__system/attachmentsPresent", "__system/attachmentsExpected",
        "__system/status", "__system/reviewState", "__system/deviceId", "__system/edits", "__system/formVersion",
        "meta/instanceID", "meta/instanceName", "meta/deprecatedID", "meta/audit", "start", "end", "today",
    }
)  # fmt: skip
MAX_PAGES = 100_000  # a bound for servers that leave out @odata.count
MAX_EMPTY_PAGES = 5  # empty pages with a next link in a row, before a pull gives up (and stores no cursor)

_PAGE_SQL = "create or replace temp table odk_page as select ?::json as doc"
_ENVELOPE_SQL = """
select
    json_type(doc, '$.value') as value_type,
    json_array_length(doc, '$.value') as n_rows,
    json_extract_string(doc, '$."@odata.nextLink"') as next_link,
    try_cast(json_extract_string(doc, '$."@odata.count"') as bigint) as total
from odk_page
"""
_ROWS_SQL = """
create or replace temp table odk_rows as
select
    row_number() over ()::bigint as ordinal,
    rec,
    json_extract_string(rec, '$.__id') as source_id,
    json_extract_string(rec, '$.__system.submissionDate') as submitted_at,
    json_extract_string(rec, '$.__system.updatedAt') as updated_at,
    json_extract_string(rec, '$.__system.deletedAt') as deleted_at,
    json_extract_string(rec, '$.__system.status') as status,
    json_extract_string(rec, '$.__system.reviewState') as review_state
from (select unnest(json_extract(doc, '$.value[*]')) as rec from odk_page)
"""
# Every value of the page's rows under its group path, with its position in the row as served. A GeoJSON object
# is not descended into: it is geolocation, and dropped whole. json_each names the children, so a key holding '"'
# or ending in a backslash is a key like any other (a JSON path built from it broke the whole page).
_LEAVES_SQL = """
create or replace temp table odk_leaves as
with recursive nodes (ordinal, key, position, value) as (
    select ordinal, '', []::ubigint[], rec
    from odk_rows
    union all
    select
        nodes.ordinal,
        case when nodes.key = '' then child.key else nodes.key || '/' || child.key end,
        list_append(nodes.position, child.id),
        child.value
    from nodes, json_each(nodes.value) as child
    where json_type(nodes.value) = 'OBJECT'
        and not (
            json_exists(nodes.value, '$.coordinates') and nodes.value ->> '$.type' in ('Point', 'LineString', 'Polygon')
        )
)
select
    ordinal,
    key,
    position,
    case when json_type(value) <> 'NULL' then value ->> '$' end as value
from nodes
where json_type(value) <> 'OBJECT'
"""
_REJECTED_SQL = """
select source_id
from odk_rows
where review_state = 'rejected' and deleted_at is null and status is null
order by ordinal
"""
_SKIPPED_SQL = """
select
    source_id,
    case when deleted_at is not null then 'deleted' else 'not decrypted: ' || status end as reason
from odk_rows
where deleted_at is not null or status is not null
order by ordinal
"""
_RECORDS_SQL = """
select
    r.ordinal,
    r.source_id,
    r.submitted_at,
    coalesce(
        to_json(map(
            list(l.key order by l.position) filter (where not list_contains(?, l.key)),
            list(l.value order by l.position) filter (where not list_contains(?, l.key))
        )),
        '{}'
    )::varchar as record
from odk_rows r
left join odk_leaves l using (ordinal)
where r.deleted_at is null and r.status is null and (? or r.review_state is distinct from 'rejected')
group by r.ordinal, r.source_id, r.submitted_at
order by r.ordinal
"""


class OdkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["odk"]
    base_url: str = Field(pattern=r"^https?://")
    project_id: int = Field(ge=1)
    form_id: str = Field(min_length=1)  # the form's xmlFormId
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")  # the account's login; its password is the partner's secret
    page_size: int | None = Field(default=None, ge=1)  # $top; settings.page_size (1000) when not given
    # edits come back by updatedAt; a deletion only stops being listed: every reread_days a pull reads all
    # again, and what it no longer lists is reported as gone at the partner
    reread_days: int | None = Field(default=7, ge=1)
    # submissions a reviewer marked "rejected" (test entries, unusable ones) are not loaded, and leave core
    include_rejected: bool = False
    # what a review changes without changing an answer: a new review state is no new version of a response
    volatile_fields: ClassVar[tuple[str, ...]] = ("__system/reviewState", "__system/updatedAt")

    @property
    def source(self) -> str:
        """Where the submissions come from: one form of one project (a server's new address keeps it)."""
        return f"odk:{self.project_id}/{self.form_id}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> OdkConnector:
        return OdkConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": "__id", "submitted_at": "__system/submissionDate"}


@dataclass(frozen=True)
class _Parsed:
    """One page, taken apart: its records, where it leads, how many rows the listing has, its latest time."""

    records: pa.Table
    n_rows: int
    next_link: str | None
    total: int | None
    latest: str | None
    rejected: tuple[str, ...]


class OdkConnector:
    naive_timezone = "UTC"
    # Collect and Enketo submit every question of the form, an unanswered one empty: Central serves it as null
    omits_unanswered = False

    def __init__(
        self,
        partner_id: str,
        config: OdkSettings,
        password: str,
        settings: Settings,
        drop: tuple[str, ...],
        until: float | None = None,
    ) -> None:
        self.partner_id = partner_id
        self.config = config
        self.metadata_fields = METADATA_FIELDS
        self._password = password
        self._top = config.page_size or settings.page_size
        self._session = http.session(partner_id, settings, until)
        self._drop = drop
        self._base = config.base_url.rstrip("/")
        self._token: str | None = None
        self._logged_in_again = False

    def pull(self, cursor: str | None) -> Iterator[Page]:
        form = quote(self.config.form_id, safe="")
        query = {"$top": str(self._top), "$count": "true"}
        if cursor:
            cursor = self._since(cursor)
            query["$filter"] = f"__system/submissionDate ge {cursor} or __system/updatedAt ge {cursor}"
        url = f"{self._base}/v1/projects/{self.config.project_id}/forms/{form}.svc/Submissions?"
        self._token, self._logged_in_again = self._login(), False
        duck = duckdb.connect()
        try:
            yield from self._pages(duck, url + urlencode(query, quote_via=quote), cursor)
        finally:
            duck.close()
            self._logout()

    def loaded(self, pages: list[Page]) -> None:
        """Nothing to do: the cursor, stored with the last page, is all Central needs."""

    def form_labels(self) -> FormLabels:
        """The choices of the published form, from its XForm (a session, one request)."""
        form, project = self.config.form_id, self.config.project_id
        url = f"{self._base}/v1/projects/{project}/forms/{quote(form, safe='')}.xml"
        self._token, self._logged_in_again = self._login(), False
        try:
            response = self._get(url)
        finally:
            self._logout()
        try:
            answers = xform.answer_labels(response.content)
        except ValueError as exc:
            raise PayloadError(self.partner_id, f"{http.redact(url)}: {exc}") from exc
        return FormLabels(f"form {form!r} of project {project}", answers)

    def _pages(self, duck: duckdb.DuckDBPyConnection, url: str, cursor: str | None) -> Iterator[Page]:
        latest, began, limit, total = cursor, None, MAX_PAGES, None
        read, full_pages, empty_in_row = 0, 0, 0
        with_rows: set[str] = set()
        requested: set[str] = set()
        while True:
            if url in with_rows:
                raise PayloadError(self.partner_id, f"pagination loops: the next link repeats {http.redact(url)}")
            requested.add(url)
            response = self._get(url)
            page = self._parse(duck, response)
            if began is None:
                began, total = _server_time(response), page.total
                limit = -(-total // self._top) + 1 if total is not None else MAX_PAGES
            latest = max(filter(None, (latest, page.latest)), default=None)
            read += page.n_rows
            if page.n_rows:
                with_rows.add(url)
                full_pages, empty_in_row = full_pages + 1, 0
            else:
                empty_in_row += 1
            if full_pages > limit:
                raise PayloadError(
                    self.partner_id,
                    f"pagination does not end: a next link after {limit} pages of {self._top} for {total} submissions",
                )
            target = self._follow(response.url, page.next_link) if page.next_link else None
            if target is None or (page.n_rows == 0 and not _more_to_read(read, total, target, requested)):
                yield Page(
                    http.redact(response.url), response.content, page.records, _earlier(latest, began), page.rejected
                )
                return
            if empty_in_row > MAX_EMPTY_PAGES:
                raise PartnerUnreachable(
                    self.partner_id,
                    f"{empty_in_row} empty pages in a row after {read} of {total} submissions; the next run tries "
                    "again",
                )
            yield Page(http.redact(response.url), response.content, page.records, None, page.rejected)
            url = target

    def _parse(self, duck: duckdb.DuckDBPyConnection, response: requests.Response) -> _Parsed:
        """The page's envelope and records, all inside DuckDB: no Python loop over submissions (but over the
        submissions of a page holding text that is no Unicode, salvaged as json_records.parsed does)."""

        def parse(text: str) -> _Parsed:
            duck.execute(_PAGE_SQL, [text])
            [(value_type, n_rows, next_link, total)] = duck.execute(_ENVELOPE_SQL).fetchall()
            if value_type != "ARRAY":
                raise PayloadError(
                    self.partner_id,
                    f"{http.redact(response.url)} sent no 'value' list; is base_url an ODK Central server?",
                )
            duck.execute(_ROWS_SQL)
            duck.execute(_LEAVES_SQL)
            keys = [key for (key,) in duck.execute("select distinct key from odk_leaves").fetchall()]
            self.metadata_fields = self.metadata_fields | {key for key in keys if "@odata." in key}
            drop = [key for key in keys if is_identifier(key, self._drop)]
            self._report_skipped(duck.execute(_SKIPPED_SQL).fetchall())
            include = self.config.include_rejected
            records = duck.sql(_RECORDS_SQL, params=[drop, drop, include]).to_arrow_table()
            rejected = () if include else tuple(i for (i,) in duck.execute(_REJECTED_SQL).fetchall())
            [(latest,)] = duck.execute("select max(greatest(submitted_at, updated_at)) from odk_rows").fetchall()
            return _Parsed(records.cast(RECORD_SCHEMA), n_rows, next_link, total, latest, rejected)

        return parsed(self.partner_id, "page", response.content, parse, records_at("$.value[*]"), self._drop)

    def _report_skipped(self, skipped: list[tuple[str, str]]) -> None:
        if skipped:
            _log.warning(
                "partner %s: %d submissions not loaded (ODK Central lists them without answers): %s",
                self.partner_id,
                len(skipped),
                "; ".join(f"{source_id} ({reason})" for source_id, reason in skipped),
            )

    def _follow(self, current: str, next_link: str) -> str:
        target = urljoin(current, next_link)
        if not http.same_origin(target, self._base):
            raise PartnerError(
                self.partner_id,
                f"'@odata.nextLink' leads to another origin ({http.redact(target)}); the session token is not sent "
                "there. Central builds links from its DOMAIN setting: it must match connector.base_url",
            )
        return target

    def _get(self, url: str) -> requests.Response:
        response = self._session.get(url, headers=self._bearer())
        if response.status_code == 401 and not self._logged_in_again:
            self._token, self._logged_in_again = self._login(), True
            response = self._session.get(url, headers=self._bearer())
        return self._check(response, during="pull")

    def _login(self) -> str:
        url = f"{self._base}/v1/sessions"
        body = {"email": self.config.email, "password": self._password}
        response = self._check(self._session.post(url, json=body), during="login")
        token = _json(response).get("token")
        if not isinstance(token, str) or not token:
            raise PayloadError(
                self.partner_id, f"POST {http.redact(url)} answered without a session token; is base_url ODK Central?"
            )
        return token

    def _logout(self) -> None:
        """End the session rather than leave a valid token for 24 hours. Without retries, and a failure here (or
        the partner's time used up) is no failure of the pull: the session then simply expires."""
        token, self._token = self._token, None
        if token:
            with contextlib.suppress(PartnerError):
                self._session.request(
                    "DELETE",
                    f"{self._base}/v1/sessions/{quote(token, safe='')}",
                    where=f"DELETE {http.redact(self._base)}/v1/sessions/…",
                    retries=False,
                    headers={"Authorization": f"Bearer {token}"},
                )

    def _bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def _check(self, response: requests.Response, during: Literal["login", "pull"]) -> requests.Response:
        """Turn Central's problem bodies into errors that quote them; anything else as every connector does."""
        problem = _problem(response) if response.status_code >= 400 else None
        if problem is None:
            return http.check(self.partner_id, response)
        code, message = problem
        if self._password:
            message = message.replace(self._password, "***")
        status = response.status_code
        unreachable = status in http.RETRY_STATUSES
        where = f"{response.request.method} {http.redact(response.url)} answered HTTP {status}"
        error = PartnerUnreachable if unreachable else PartnerError
        raise error(
            self.partner_id,
            f'{where}{" after retries" if unreachable else ""}: ODK Central {code} "{message[:300]}"; '
            + self._hint(status, during),
        )

    def _hint(self, status: int, during: Literal["login", "pull"]) -> str:
        """What the operator should check, by the kind of problem."""
        email, form, project = self.config.email, self.config.form_id, self.config.project_id
        if status == 401 and during == "login":
            return f"check the password in the partner's secret and connector.email ({email})"
        if status == 401:
            return f"the server refused a fresh session too; check that the account {email} is still active"
        if status == 403:
            return f"the account {email} may not read form {form!r} of project {project}: give it a role there"
        if status == 404:
            return f"check connector.project_id ({project}) and connector.form_id ({form!r})"
        if status == 501:
            return (
                "this ODK Central cannot answer what the connector asks ($skiptoken paging, $filter on "
                "__system/submissionDate and __system/updatedAt); ask its administrator to update it"
            )
        if status in http.RETRY_STATUSES:
            return "the next run tries again"
        return "report it to the partner's ODK Central administrator"

    def _since(self, cursor: str) -> str:
        """The stored cursor as an OData time literal (never anything else inside the filter expression)."""
        try:
            moment = datetime.fromisoformat(cursor.replace("Z", "+00:00"))
        except ValueError as exc:
            raise PartnerError(
                self.partner_id,
                f"the stored cursor {cursor!r} is not a time; delete the partner's row in ops.cursors to pull all",
            ) from exc
        return _central_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _problem(response: requests.Response) -> tuple[str, str] | None:
    """(code, message) of a Central problem body, e.g. ("401.2", "Could not authenticate ..."); None otherwise."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    code, message = body.get("code"), body.get("message")
    if isinstance(code, bool) or not isinstance(code, int | float) or not isinstance(message, str):
        return None
    return format(code, "g"), message


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _central_time(moment: datetime) -> str:
    """A time as Central writes it (JavaScript's toISOString): UTC, milliseconds, Z; such strings order as times."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _server_time(response: requests.Response) -> str | None:
    """The server's clock when it answered (whole seconds), from the Date header HTTP servers send."""
    try:
        moment = parsedate_to_datetime(response.headers["Date"])
    except (KeyError, TypeError, ValueError):
        return None
    return _central_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _more_to_read(read: int, total: int | None, target: str, requested: set[str]) -> bool:
    """Whether an empty page's next link may still lead to rows: fewer read than the listing counted (or, without a
    count, a link not requested yet). An empty page ends nothing by itself; a link after the last row does."""
    return read < total if total is not None else target not in requested


def _earlier(latest: str | None, began: str | None) -> str | None:
    """The cursor to store: the latest time seen, but never past the moment the pull began."""
    return min(latest, began) if latest and began else latest
