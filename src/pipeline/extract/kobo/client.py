"""The HTTP side of Kobo: pages of an asset's submissions read by a stable key, and the asset's detail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import requests

from pipeline.errors import PayloadError
from pipeline.extract import FormLabels, Page, http, json_records
from pipeline.extract.json_records import page_records
from pipeline.extract.kobo.records import TIME_FORMAT, asset_labels, latest
from pipeline.extract.kobo.settings import MAX_LIMIT, KoboSettings

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


# The validation status a reviewer gives a submission that is not to be used (KPI's own uid).
NOT_APPROVED = "validation_status_not_approved"


class KoboConnector:
    naive_timezone = "UTC"
    metadata_fields = METADATA_FIELDS
    omits_unanswered = True  # a question nobody answered is no key of the submission

    def __init__(
        self,
        partner_id: str,
        config: KoboSettings,
        token: str,
        settings: Settings,
        drop: tuple[str, ...],
        until: float | None = None,
    ) -> None:
        self.partner_id = partner_id
        self.config = config
        self._token = token
        self._limit = min(config.page_size or settings.page_size, MAX_LIMIT)
        self._session = http.session(partner_id, settings, until)
        self._drop = drop

    def pull(self, cursor: str | None) -> Iterator[Page]:
        url = f"{self.config.base_url.rstrip('/')}/api/v2/assets/{self.config.asset_uid}/data/"
        began = datetime.now(UTC).strftime(TIME_FORMAT)
        newest, after = None, None
        duck = json_records.scratch()
        try:
            while True:
                response = self._get(url, self._params(cursor, after))
                records = page_records(
                    duck, self.partner_id, response.content, "$.results[*]", "_id", "_submission_time", self._drop
                )
                newest = latest(newest, records, began)
                last = self._last_id(records, after)
                more = last is not None and self._has_next(duck, response)
                kept, rejected = self._reviewed(duck, records)
                cursor_now = None if more else newest or cursor
                yield Page(http.redact(response.url), response.content, kept, cursor_now, rejected)
                if not more:
                    return
                after = last
        finally:
            duck.close()

    def loaded(self, pages: list[Page]) -> None:
        """Nothing to do: the cursor, stored with the pages, is all Kobo needs."""

    def form_labels(self) -> FormLabels:
        """The asset's choices, read from its detail (one request)."""
        url = f"{self.config.base_url.rstrip('/')}/api/v2/assets/{self.config.asset_uid}/"
        response = self._get(url, {"format": "json"})
        try:
            content = response.json()["content"]
            answers = asset_labels(content["survey"], content.get("choices") or [], content.get("translations"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PayloadError(self.partner_id, f"{http.redact(url)} holds no form content (survey, choices)") from exc
        return FormLabels(f"asset {self.config.asset_uid}", answers)

    def _get(self, url: str, params: dict[str, str | int]) -> requests.Response:
        headers = {"Authorization": f"Token {self._token}", "Accept": "application/json"}
        return http.check(self.partner_id, self._session.get(url, params=params, headers=headers))

    def _params(self, cursor: str | None, after: int | None) -> dict[str, str | int]:
        query: dict[str, object] = {}
        if cursor:
            query["_submission_time"] = {"$gte": cursor}
        if after is not None:
            query["_id"] = {"$gt": after}
        params: dict[str, str | int] = {"format": "json", "limit": self._limit, "sort": json.dumps({"_id": 1})}
        if query:
            params["query"] = json.dumps(query)
        return params

    def _last_id(self, records: pa.Table, after: int | None) -> int | None:
        """The page's last `_id` (None for an empty page), which must lie beyond the previous page's."""
        if records.num_rows == 0:
            return None
        text = records.column("source_id")[-1].as_py()
        try:
            last = int(text)
        except (TypeError, ValueError) as exc:
            raise PayloadError(self.partner_id, f"a submission's _id is not a number ({text!r})") from exc
        if after is not None and last <= after:
            raise PayloadError(self.partner_id, f"pagination does not advance: _id {last} after {after}")
        return last

    def _reviewed(self, duck: duckdb.DuckDBPyConnection, records: pa.Table) -> tuple[pa.Table, tuple[str, ...]]:
        """The page's submissions without those a reviewer marked Not Approved, and the ids of those (unless the
        registry says include_not_approved)."""
        if self.config.include_not_approved or records.num_rows == 0:
            return records, ()
        duck.register("kobo_page", records)
        try:
            flags = duck.execute(
                "select coalesce(json_extract_string(record, '$._validation_status.uid') = ?, false) from kobo_page",
                [NOT_APPROVED],
            ).fetchnumpy()
        finally:
            duck.unregister("kobo_page")
        not_approved = pa.array(next(iter(flags.values())), pa.bool_())
        rejected = records.column("source_id").filter(not_approved).to_pylist()
        return records.filter(pc.invert(not_approved)), tuple(rejected)

    def _has_next(self, duck: duckdb.DuckDBPyConnection, response: requests.Response) -> bool:
        """Whether the page, an object holding results (page_records found them), links to a next one. Read by
        DuckDB, which parses a page of 1,000 submissions several times faster than Python's parser; a page DuckDB
        refuses (text that is no Unicode, salvaged by page_records) is read by Python's."""
        try:
            [(link,)] = duck.execute(
                "select json_extract_string(?, '$.next')", [response.content.decode("utf-8")]
            ).fetchall()
        except (duckdb.Error, UnicodeDecodeError):
            try:
                return bool(response.json().get("next"))
            except (ValueError, AttributeError) as exc:
                raise PayloadError(self.partner_id, "page is not the JSON object expected") from exc
        return bool(link)
