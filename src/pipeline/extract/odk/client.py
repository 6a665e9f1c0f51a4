"""The HTTP side of ODK Central: a session, the Submissions feed page by page, and the published XForm."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode, urljoin

import duckdb
import requests

from pipeline.errors import PartnerError, PartnerUnreachable, PayloadError
from pipeline.extract import FormLabels, Page, http, json_records
from pipeline.extract.odk import xform
from pipeline.extract.odk.records import central_time, earlier, parse_page
from pipeline.extract.odk.settings import OdkSettings

if TYPE_CHECKING:
    from pipeline.settings import Settings

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
        duck = json_records.scratch()
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
            page = parse_page(
                duck, self.partner_id, response.url, response.content, self._drop, self.config.include_rejected
            )
            self.metadata_fields = self.metadata_fields | page.links
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
                    http.redact(response.url), response.content, page.records, earlier(latest, began), page.rejected
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
        return central_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


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


def _server_time(response: requests.Response) -> str | None:
    """The server's clock when it answered (whole seconds), from the Date header HTTP servers send."""
    try:
        moment = parsedate_to_datetime(response.headers["Date"])
    except (KeyError, TypeError, ValueError):
        return None
    return central_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _more_to_read(read: int, total: int | None, target: str, requested: set[str]) -> bool:
    """Whether an empty page's next link may still lead to rows: fewer read than the listing counted (or, without a
    count, a link not requested yet). An empty page ends nothing by itself; a link after the last row does."""
    return read < total if total is not None else target not in requested
