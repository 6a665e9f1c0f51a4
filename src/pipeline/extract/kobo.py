"""KoboToolbox API v2 connector: paginated submissions of one asset, pulled incrementally by submission time.

API: GET {base}/api/v2/assets/{uid}/data/?format=json with `Authorization: Token <token>`. Pages come as
{count, next, previous, results}. Pages are read by a stable key, not by `start` offsets: each request asks for
query={"_submission_time": {"$gte": cursor}, "_id": {"$gt": <last _id read>}} sorted by `_id` (Mongo syntax, as
the data endpoint accepts it), so a submission deleted between two page reads cannot shift an unread one out of
reach; `next` only tells whether more follow. `$gte` (not `$gt`) on the time re-reads the responses at the
cursor's second, which the loader then counts as unchanged, so none submitted in the same second as the previous
pull's last one can be missed. Kobo sends submission times in UTC without an offset.

Cursor: the latest submission time read that is a well-formed time no later than the moment the pull began (a
time in the future or one that is no time at all is quarantined downstream and never becomes the cursor, or
every later submission would stay unread). Pages come in `_id` order, which need not be the order of times, so
the cursor goes with the last page only: an interrupted pull starts again from the previous cursor, and what it
reads again counts as unchanged.
An edit (in Enketo) keeps a submission's `_id` and `_submission_time`, and the data API serves no time of the
last change (kpi issue #7259), so every `reread_days` (default 7) a pull reads all submissions again: those
unchanged count as such, an edited one is a new version ("updated").

Answer labels (`pipeline check --connect`): GET {base}/api/v2/assets/{uid}/ with the same token; its
`content.choices` (list_name, name, label per translation) are the labels of the `select_from_list_name` of
each `content.survey` row, under the row's group path as the data API names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import requests
from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import PayloadError
from pipeline.extract import FormLabels, Page, german_first, http
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
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"  # how Kobo writes _submission_time (UTC, no offset)


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

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> KoboConnector:
        return KoboConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": "_id", "submitted_at": "_submission_time"}


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
        latest, after = None, None
        duck = duckdb.connect()
        try:
            while True:
                response = self._get(url, self._params(cursor, after))
                records = page_records(
                    duck, self.partner_id, response.content, "$.results[*]", "_id", "_submission_time", self._drop
                )
                latest = _latest(latest, records, began)
                last = self._last_id(records, after)
                more = last is not None and self._has_next(response)
                yield Page(http.redact(response.url), response.content, records, None if more else latest or cursor)
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

    def _has_next(self, response: requests.Response) -> bool:
        try:
            return bool(response.json().get("next"))
        except (ValueError, AttributeError) as exc:
            raise PayloadError(self.partner_id, "page is not the JSON object expected") from exc


def _latest(latest: str | None, records: pa.Table, began: str) -> str | None:
    """The latest well-formed submission time read so far, never past `began`. Times of one format order as
    strings like the times they show; any other string (a malformed time) is left out."""
    times = records.column("submitted_at")
    parsed = pc.strptime(pc.utf8_slice_codeunits(times, 0, 19), format=TIME_FORMAT, unit="s", error_is_null=True)
    usable = pc.and_(pc.is_valid(parsed), pc.less_equal(times, began))
    candidate = pc.max(pc.filter(times, usable)).as_py()
    return max(filter(None, (latest, candidate)), default=None)


def asset_labels(
    survey: list[dict[str, Any]], choices: list[dict[str, Any]], translations: list[str | None] | None
) -> dict[str, dict[str, str]]:
    """Question path → choice name → label (in German where the form has it) of a Kobo asset's content."""
    pick = german_first(translations or [None])
    lists: dict[str, dict[str, str]] = {}
    for choice in choices:
        lists.setdefault(choice["list_name"], {})[str(choice["name"])] = _translated(choice.get("label"), pick)
    answers: dict[str, dict[str, str]] = {}
    groups: list[str] = []
    for row in survey:
        kind, name = row.get("type", ""), row.get("name") or row.get("$autoname") or ""
        if kind in ("begin_group", "begin_repeat"):
            groups.append(name)
        elif kind in ("end_group", "end_repeat"):
            groups = groups[:-1]
        elif row.get("select_from_list_name") in lists:
            answers["/".join([*groups, name])] = lists[row["select_from_list_name"]]
    return answers


def _translated(label: object, pick: int) -> str:
    """A label in the chosen translation: a list has one per translation, a single language form a string."""
    if isinstance(label, list):
        label = label[pick] if pick < len(label) else next((text for text in label if text), None)
    return str(label or "")
