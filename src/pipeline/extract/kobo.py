"""KoboToolbox API v2 connector: paginated submissions of one asset, pulled incrementally by submission time.

API: GET {base}/api/v2/assets/{uid}/data/?format=json with `Authorization: Token <token>`. Pages come as
{count, next, previous, results}; `next` already carries limit, start and query. Incremental pulls filter with
query={"_submission_time": {"$gte": cursor}} sorted by submission time: `$gte` (not `$gt`) re-reads the
responses at the cursor's second, which the loader then counts as unchanged, so none submitted in the same
second as the previous pull's last one can be missed. Kobo sends submission times in UTC without an offset.
An edit (in Enketo) keeps a submission's `_id` and `_submission_time`, and the data API serves no time of the
last change (kpi issue #7259), so every `reread_days` (default 7) a pull reads all submissions again: those
unchanged count as such, an edited one is a new version ("updated").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

import duckdb
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import PartnerError, PayloadError
from pipeline.extract import Page, http
from pipeline.extract.json_records import page_records

if TYPE_CHECKING:
    from pipeline.settings import Settings

# Metadata Kobo adds to every submission: known, so never reported as unmapped partner questions.
METADATA_FIELDS = frozenset(
    {
        "_id", "_uuid", "_submission_time", "_xform_id_string", "_status", "_tags", "_notes",
        "_validation_status", "__version__", "formhub/uuid", "meta/instanceID", "meta/rootUuid",
        "meta/deprecatedID", "start", "end", "today", "_attachments", "_geolocation", "_submitted_by",
    }
)  # fmt: skip
MAX_LIMIT = 1000  # KPI caps `limit` for JSON at this many submissions per page


class KoboSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kobo"]
    base_url: str = Field(pattern=r"^https?://")
    asset_uid: str = Field(pattern=r"^[A-Za-z0-9]+$")
    page_size: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    # Kobo lists no edits (an edit keeps _id and _submission_time): every reread_days a pull reads all again
    reread_days: int | None = Field(default=7, ge=1)
    volatile_fields: ClassVar[tuple[str, ...]] = ()  # every field sent is part of a response's version

    @property
    def source(self) -> str:
        """Where the submissions come from: one asset (a form deployed anew as another asset is new)."""
        return f"kobo:{self.asset_uid}"

    def open(self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...]) -> KoboConnector:
        return KoboConnector(partner_id, self, secret, settings, drop)


class KoboConnector:
    naive_timezone = "UTC"
    metadata_fields = METADATA_FIELDS

    def __init__(
        self, partner_id: str, config: KoboSettings, token: str, settings: Settings, drop: tuple[str, ...]
    ) -> None:
        self.partner_id = partner_id
        self.config = config
        self._token = token
        self._timeout = settings.http_timeout_seconds
        self._limit = min(config.page_size or settings.page_size, MAX_LIMIT)
        self._session = http.session(settings.http_retries)
        self._drop = drop

    def pull(self, cursor: str | None) -> Iterator[Page]:
        url = f"{self.config.base_url.rstrip('/')}/api/v2/assets/{self.config.asset_uid}/data/"
        params: dict[str, str | int] | None = {
            "format": "json",
            "limit": self._limit,
            "sort": json.dumps({"_submission_time": 1}),
        }
        if cursor:
            params["query"] = json.dumps({"_submission_time": {"$gte": cursor}})  # type: ignore[index]
        seen: set[str] = set()
        duck = duckdb.connect()
        try:
            while url:
                if url in seen:
                    raise PayloadError(self.partner_id, f"pagination loops: 'next' points back to {http.redact(url)}")
                seen.add(url)
                response = http.get(
                    self.partner_id,
                    self._session,
                    url,
                    self._timeout,
                    params=params,
                    headers={"Authorization": f"Token {self._token}", "Accept": "application/json"},
                )
                records = page_records(
                    duck, self.partner_id, response.content, "$.results[*]", "_id", "_submission_time", self._drop
                )
                cursor = _max(cursor, records)
                yield Page(http.redact(response.url), response.content, records, cursor)
                url, params = self._next(response), None
        finally:
            duck.close()

    def loaded(self, pages: list[Page]) -> None:
        """Nothing to do: the cursor, stored with the pages, is all Kobo needs."""

    def _next(self, response: object) -> str:
        try:
            nxt = response.json().get("next")  # type: ignore[attr-defined]
        except ValueError as exc:
            raise PayloadError(self.partner_id, "page is not JSON") from exc
        if nxt and not http.same_origin(nxt, self.config.base_url):
            raise PartnerError(
                self.partner_id,
                f"'next' leads to another origin ({http.redact(nxt)}); the token is not sent there",
            )
        return nxt or ""


def _max(cursor: str | None, records: object) -> str | None:
    """The latest submission time seen so far: ISO strings of one format order like the times they show."""
    latest = pc.max(records.column("submitted_at")).as_py()  # type: ignore[attr-defined]
    return max(filter(None, (cursor, latest)), default=None)
