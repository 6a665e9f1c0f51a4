"""An ODK partner's settings in the registry: which form of which project, and which submissions to load."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pipeline.extract.odk.client import OdkConnector
    from pipeline.settings import Settings


class OdkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["odk"]
    base_url: str = Field(pattern=r"^https?://")
    project_id: int = Field(ge=1)
    form_id: str = Field(min_length=1)  # the form's xmlFormId
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")  # the account's login; its password is the partner's secret
    page_size: int | None = Field(default=None, ge=1)  # $top; settings.page_size (1000) when not given
    # edits come back by updatedAt; a deletion only stops being listed: every reread_days a pull reads all
    # again, and what it no longer lists is reported as gone at the partner
    reread_days: int | None = Field(default=7, ge=1)
    # submissions a reviewer marked "rejected" (test entries, unusable ones) are not loaded, and leave core
    include_rejected: bool = False
    # what a review changes without changing an answer: a new review state is no new version of a response
    volatile_fields: ClassVar[tuple[str, ...]] = ("__system/reviewState", "__system/updatedAt")

    @property
    def source(self) -> str:
        """Where the submissions come from: one form of one project (a server's new address keeps it)."""
        return f"odk:{self.project_id}/{self.form_id}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> OdkConnector:
        from pipeline.extract.odk.client import OdkConnector

        return OdkConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": "__id", "submitted_at": "__system/submissionDate"}
