"""HTTP for connectors: timeouts, retries that honour Retry-After, deadlines, and errors naming the partner."""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError, MaxRetryError, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from pipeline.errors import PartnerError, PartnerNotConnected, PartnerOutOfTime, PartnerUnreachable

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from pipeline.settings import Settings

RETRY_STATUSES = (429, 500, 502, 503, 504)
CHUNK_BYTES = 64 * 1024


class _NoTimeToWait(Exception):
    """Raised inside urllib3 when a retry's wait would end past a deadline; PartnerSession names the partner."""

    def __init__(self, wait: float, budget: bool) -> None:
        self.wait, self.budget = wait, budget
        super().__init__(f"a wait of {wait:g} s ends past the deadline")


class _Retry(Retry):
    """urllib3's Retry, but a connection refused or a host name unknown is not tried again (a wrong base_url or a
    server down: trying for minutes mends neither; a name server that did not answer is, see `_dns_for_now`), a
    server's Retry-After is waited at most `wait_max`, and no wait ends past the request's deadline (`ends`) or
    the partner's (`until`), both time.monotonic() values."""

    def __init__(
        self, *args: Any, wait_max: float = 0.0, ends: float | None = None, until: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.wait_max, self.ends, self.until = wait_max, ends, until

    def new(self, **kwargs: Any) -> Self:
        kwargs = {"wait_max": self.wait_max, "ends": self.ends, "until": self.until, **kwargs}
        return super().new(**kwargs)

    def increment(self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any) -> Self:
        error = kwargs.get("error")
        if isinstance(error, NewConnectionError) and not _dns_for_now(error):
            raise MaxRetryError(kwargs.get("_pool"), url, error) from error
        return super().increment(method, url, *args, **kwargs)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        asked = self.get_retry_after(response) if self.respect_retry_after_header and response else None
        wait = min(asked, self.wait_max) if asked else self.get_backoff_time()
        now = time.monotonic()
        if self.until is not None and now + wait > self.until:
            raise _NoTimeToWait(wait, budget=True)
        if self.ends is not None and now + wait > self.ends:
            raise _NoTimeToWait(wait, budget=False)
        if wait > 0:
            time.sleep(wait)


class PartnerSession:
    """One partner's HTTP session. It retries transient failures itself (5xx, 429, resets, timeouts), so
    connectors never loop on errors by hand, and turns every failure into the project's error naming the partner
    and the request: PartnerNotConnected when no connection could be made at all, PartnerUnreachable when the
    server kept failing or overran the request deadline, PartnerOutOfTime once `until` has passed. Responses come
    with their body read (response.content), the HTTP status not checked (see `check`)."""

    def __init__(self, partner_id: str, settings: Settings, until: float | None) -> None:
        self.partner_id = partner_id
        self.until = until
        self._timeout = settings.http_timeout_seconds
        self._deadline = settings.http_request_deadline_seconds
        self._budget = settings.partner_budget_seconds
        retries = settings.http_retries
        self._retry = _Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=0.5,
            backoff_max=30,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,
            respect_retry_after_header=True,
            raise_on_status=False,
            wait_max=settings.http_retry_after_max_seconds,
        )
        self._adapter = HTTPAdapter(max_retries=self._retry)
        self._http = requests.Session()
        self._http.mount("http://", self._adapter)
        self._http.mount("https://", self._adapter)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def request(
        self, method: str, url: str, *, where: str | None = None, retries: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send one request (requests' keyword arguments, but no timeout or stream) and read its body.

        where: how messages name the request (default "METHOD url" without user info; a connector whose URLs
        carry a key passes its own). retries=False sends it once, e.g. to end a session on the way out.
        """
        where = where or f"{method} {redact(url)}"
        started = time.monotonic()
        if self.until is not None and started >= self.until:
            raise self._out_of_time(where)
        ends = started + self._deadline
        # one session serves one connector, one request at a time: the deadlines go with this request's retries
        self._adapter.max_retries = self._retry.new(
            ends=ends, until=self.until, total=self._retry.total if retries else 0
        )
        try:
            response = self._http.request(method, url, timeout=self._timeout, stream=True, **kwargs)
        except _NoTimeToWait as exc:
            if exc.budget:
                raise self._out_of_time(where) from None
            raise PartnerUnreachable(
                self.partner_id,
                f"{where}: trying again would wait {exc.wait:g} s more, past the request's deadline "
                f"(http_request_deadline_seconds = {self._deadline:g}); the next run tries again",
            ) from None
        except requests.RequestException as exc:
            raise self._failed(where, url, exc) from exc
        self._read_body(response, where, ends)
        return response

    def _read_body(self, response: requests.Response, where: str, ends: float) -> None:
        """Read the body piece by piece as it arrives, checking the deadlines between pieces (the socket timeout
        alone counts per read, and a server sending a byte now and then never trips it)."""
        pieces: list[bytes] = []
        try:
            while piece := response.raw.read1(CHUNK_BYTES, decode_content=True):
                pieces.append(piece)
                now = time.monotonic()
                if self.until is not None and now > self.until:
                    raise self._out_of_time(where, reading=True)
                if now > ends:
                    raise PartnerUnreachable(
                        self.partner_id,
                        f"{where} answered too slowly: {sum(map(len, pieces))} bytes of the body had come when the "
                        f"request's deadline passed (http_request_deadline_seconds = {self._deadline:g}); the next "
                        "run tries again",
                    )
        except (HTTPError, OSError) as exc:
            response.close()
            raise PartnerUnreachable(self.partner_id, f"{where} failed: {type(exc).__name__}") from exc
        except PartnerError:
            response.close()
            raise
        # what requests does after reading a body itself: .content, .text and .json() then serve these bytes
        response._content = b"".join(pieces)  # noqa: SLF001
        response._content_consumed = True  # noqa: SLF001

    def _failed(self, where: str, url: str, exc: requests.RequestException) -> PartnerError:
        reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
        if isinstance(reason, NewConnectionError) and _dns_for_now(reason):
            host = urlsplit(url).hostname
            return PartnerUnreachable(
                self.partner_id, f"{where} failed: no name server answered for {host} (a temporary DNS failure)"
            )
        if not isinstance(reason, NewConnectionError):
            return PartnerUnreachable(self.partner_id, f"{where} failed: {type(exc).__name__}")
        if isinstance(reason, NameResolutionError):
            what = f"the host name {urlsplit(url).hostname} is not known"
        else:
            what = (getattr(reason.__cause__, "strerror", None) or "no connection").lower()
        return PartnerNotConnected(
            self.partner_id,
            f"{where} failed: {what}; check that connector.base_url is right and that the server is up",
        )

    def _out_of_time(self, where: str, reading: bool = False) -> PartnerOutOfTime:
        state = "stopped while reading" if reading else "not sent"
        return PartnerOutOfTime(
            self.partner_id,
            f"{where} {state}: the partner's time in this run is used up (partner_budget_seconds = "
            f"{self._budget:g}); the next run goes on from where this one stopped",
        )


def _dns_for_now(error: NewConnectionError) -> bool:
    """A host name that could not be resolved because no name server answered (EAI_AGAIN, "temporary failure in
    name resolution"): the name may well exist, and unlike one that does not (EAI_NONAME), a while later it may
    resolve, so it is retried like a server that did not answer."""
    cause = error.__cause__
    return (
        isinstance(error, NameResolutionError)
        and isinstance(cause, socket.gaierror)
        and cause.errno == socket.EAI_AGAIN
    )


def session(partner_id: str, settings: Settings, until: float | None = None) -> PartnerSession:
    """The partner's HTTP session, by the settings' timeouts, retries and deadlines; until: the time.monotonic()
    after which it starts no request and waits for no retry (None: no bound)."""
    return PartnerSession(partner_id, settings, until)


def check(partner_id: str, response: requests.Response) -> requests.Response:
    """Turn an HTTP error status into the project's error, naming the partner and what to do."""
    status = response.status_code
    if status < 400:
        return response
    where = f"{response.request.method} {redact(response.url)} answered HTTP {status}"
    if status in (401, 403):
        raise PartnerError(partner_id, f"{where}: credentials rejected; check the partner's secret")
    if status in RETRY_STATUSES:
        raise PartnerUnreachable(partner_id, f"{where} after retries")
    raise PartnerError(partner_id, f"{where}: {response.text[:200]}")


def same_origin(a: str, b: str) -> bool:
    """Credentials are only ever sent back to the origin they were configured for."""
    pa_, pb = urlsplit(a), urlsplit(b)
    return (pa_.scheme, pa_.netloc) == (pb.scheme, pb.netloc)


def redact(url: str) -> str:
    """A URL fit for logs: without user info."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()
