"""A LimeSurvey partner's settings in the registry: which survey on which server, read in which time zone."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.extract import TimeZoneName

if TYPE_CHECKING:
    from pipeline.extract.limesurvey.client import LimeSurveyConnector
    from pipeline.settings import Settings

DEFAULT_ENDPOINT = "/index.php/admin/remotecontrol"
MAX_IDS_PER_PAGE = 10_000  # a range is one page, held in memory whole


class LimeSurveySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["limesurvey"]
    base_url: str = Field(pattern=r"^https?://")
    survey_id: int = Field(ge=1)
    username: str = Field(min_length=1)
    endpoint: str = Field(default=DEFAULT_ENDPOINT, pattern=r"^/")
    language: str | None = None
    timezone: TimeZoneName = "Europe/Berlin"
    ids_per_page: int = Field(default=500, ge=1, le=MAX_IDS_PER_PAGE)
    # the API lists no edits: every reread_days a pull reads all ids again, so one below the cursor is seen
    reread_days: int | None = Field(default=7, ge=1)
    volatile_fields: ClassVar[tuple[str, ...]] = ()  # every column exported is part of a response's version

    @property
    def source(self) -> str:
        """Where the responses come from: ids and the cursor belong to one survey (a new wave's survey is new)."""
        return f"limesurvey:{self.survey_id}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> LimeSurveyConnector:
        from pipeline.extract.limesurvey.client import LimeSurveyConnector

        return LimeSurveyConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": "id", "submitted_at": "submitdate"}
