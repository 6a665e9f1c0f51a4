"""The HTTP side of SoSci Survey: calls of the API link, its key kept out of every message and log line."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import requests

from pipeline.errors import PartnerError, PartnerUnreachable, PayloadError
from pipeline.extract import FormLabels, Page, http, json_records
from pipeline.extract.json_records import page_records
from pipeline.extract.sosci.records import SERVER_TIME, changed_since, filtered
from pipeline.extract.sosci.settings import SosciSettings

if TYPE_CHECKING:
    from pipeline.settings import Settings

_log = logging.getLogger("pipeline.extract.sosci")

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

_KEY_IN_URL = re.compile(r"([?&]act=)[^&\s\"']+")


class _RedactKey(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string included: the API key must not reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and any("act=" in str(arg) for arg in record.args):
            record.msg, record.args = _KEY_IN_URL.sub(r"\1…", record.getMessage()), None
        return True


_REDACT_KEY = _RedactKey()


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
        changed = changed_since(self.partner_id, cursor)
        duck = json_records.scratch()
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
        cases = filtered(self.partner_id, self.config, duck, listed).column("source_id").to_pylist()
        try:
            return sorted(int(case) for case in cases)
        except (TypeError, ValueError) as exc:
            raise PayloadError(self.partner_id, "the listing holds a CASE that is no number") from exc

    def _records(self, duck: duckdb.DuckDBPyConnection, body: bytes) -> pa.Table:
        records = page_records(duck, self.partner_id, body, "$.data.*", "CASE", "LASTDATA", self._drop)
        kept = filtered(self.partner_id, self.config, duck, records)
        if kept.num_rows < records.num_rows:
            _log.info(
                "partner %s: %d of %d cases skipped (unfinished, pretest or another questionnaire)",
                self.partner_id, records.num_rows - kept.num_rows, records.num_rows,
            )  # fmt: skip
        return kept

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


def _ranges(cases: list[int], per_page: int) -> list[tuple[int, int]]:
    """Case ranges of at most per_page listed cases each (first and last case of each chunk)."""
    return [(cases[i], cases[min(i + per_page, len(cases)) - 1]) for i in range(0, len(cases), per_page)]
