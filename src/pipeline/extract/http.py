"""HTTP sessions for connectors: timeouts, and retries with backoff that honour Retry-After."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.errors import PartnerError, PartnerUnreachable

RETRY_STATUSES = (429, 500, 502, 503, 504)


def session(retries: int) -> requests.Session:
    """A session that retries transient failures itself, so connectors never loop on errors by hand."""
    retry = Retry(
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
    )
    s = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


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


def get(partner_id: str, s: requests.Session, url: str, timeout: float, **kwargs: object) -> requests.Response:
    try:
        return check(partner_id, s.get(url, timeout=timeout, **kwargs))  # type: ignore[arg-type]
    except requests.RequestException as exc:
        raise PartnerUnreachable(partner_id, f"GET {redact(url)} failed: {type(exc).__name__}") from exc


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
