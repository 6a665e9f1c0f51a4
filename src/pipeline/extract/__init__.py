"""The interface every connector shares: a pull yields pages, each as received and as columns."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
    as rejected in the partner's review (ODK Central's rejected, Kobo's Not Approved), not among records: one
    loaded earlier leaves core.
    """

    request: str
    body: bytes
    records: pa.Table
    cursor: str | None
    rejected: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormLabels:
    """What `pipeline check --connect` read of a partner's form, loading no response.

    where says what was read, for the operator's line (e.g. "survey 482913"). answers: the partner's question
    code (as its responses name it) → answer code → label, in German where the form has several languages;
    empty for a tool that exposes no labels (a file drop).
    """

    where: str
    answers: dict[str, dict[str, str]] = field(default_factory=dict)


# How forms name their German translation: "Deutsch (de)", "German (de)", "de", "de-DE".
_GERMAN = re.compile(r"(^|\W)(de|deu|ger)(\W|$)|deutsch|german", re.IGNORECASE)


def german_first(languages: Sequence[str | None]) -> int:
    """The position of a form's German translation among its languages, else 0 (the form's default)."""
    return next((i for i, name in enumerate(languages) if name and _GERMAN.search(name)), 0)


class Connector(Protocol):
    partner_id: str
    # Time zone of submission times that arrive without one (e.g. Kobo sends UTC without an offset).
    naive_timezone: str
    # Fields the tool adds to every response: known, so never reported as unmapped partner questions.
    metadata_fields: frozenset[str]
    # Whether the tool leaves unanswered questions out of a response (so one without a field proves nothing).
    omits_unanswered: bool

    def pull(self, cursor: str | None) -> Iterator[Page]:
        """Yield the pages of responses submitted at or after cursor (all when None)."""
        ...

    def loaded(self, pages: list[Page]) -> None:
        """Called once pages are committed, e.g. to archive the files they came from; most need nothing."""
        ...

    def form_labels(self) -> FormLabels:
        """One authenticated look at the partner's form: proves the partner reachable and the credentials good
        (a PartnerError says what to check otherwise) and reads the labels of its answer codes."""
        ...
