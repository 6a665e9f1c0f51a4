"""The interface every connector shares: a pull yields pages, each as received and as columns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
from pydantic import AfterValidator

RECORD_SCHEMA = pa.schema(
    [
        ("ordinal", pa.int64()),
        ("source_id", pa.string()),
        ("submitted_at", pa.string()),
        ("record", pa.string()),
    ]
)


def _known_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (e.g. Europe/Berlin)") from exc
    return name


# The time zone of a tool that sends times without one, checked when the registry is loaded.
TimeZoneName = Annotated[str, AfterValidator(_known_timezone)]


@dataclass(frozen=True)
class Page:
    """One page of a pull.

    body is exactly what the partner sent (only its sha256 and size are stored: it may hold identifiers).
    records has RECORD_SCHEMA: the partner's response id, its submission time as sent, and the response as
    a flat JSON object with direct identifiers already removed. cursor is what to store once this page is
    loaded, so an interrupted pull resumes after the last loaded page. rejected: ids of responses the page lists
    as rejected in the partner's review (ODK Central), not among records: one loaded earlier leaves core.
    """

    request: str
    body: bytes
    records: pa.Table
    cursor: str | None
    rejected: tuple[str, ...] = ()


class Connector(Protocol):
    partner_id: str
    # Time zone of submission times that arrive without one (e.g. Kobo sends UTC without an offset).
    naive_timezone: str
    # Fields the tool adds to every response: known, so never reported as unmapped partner questions.
    metadata_fields: frozenset[str]

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Yield the pages of responses submitted at or after cursor (all when None)."""
        ...

    def loaded(self, pages: list[Page]) -> None:
        """Called once pages are committed, e.g. to archive the files they came from; most need nothing."""
        ...
