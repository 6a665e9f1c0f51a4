"""A Kobo partner's settings in the registry: which asset on which server, and how often to read it all again."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pipeline.extract.kobo.client import KoboConnector
    from pipeline.settings import Settings

MAX_LIMIT = 1000  # KPI caps `limit` for JSON at this many submissions per page


class KoboSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["kobo"]
    base_url: str = Field(pattern=r"^https?://")
    asset_uid: str = Field(pattern=r"^[A-Za-z0-9]+$")
    page_size: int | None = Field(default=None, ge=1, le=MAX_LIMIT)
    # Kobo lists no edits (an edit keeps _id and _submission_time): every reread_days a pull reads all again
    reread_days: int | None = Field(default=7, ge=1)
    # submissions a reviewer marked "Not Approved" (validation status) are not loaded, and leave core
    include_not_approved: bool = False
    # a reviewer's validation status, notes and tags change no answer: no new version of a submission
    volatile_fields: ClassVar[tuple[str, ...]] = ("_validation_status", "_notes", "_tags")

    @property
    def source(self) -> str:
        """Where the submissions come from: one asset (a form deployed anew as another asset is new)."""
        return f"kobo:{self.asset_uid}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> KoboConnector:
        from pipeline.extract.kobo.client import KoboConnector

        return KoboConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": "_id", "submitted_at": "_submission_time"}
