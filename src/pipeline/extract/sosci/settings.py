"""A SoSci partner's settings in the registry: which project and questionnaire, and which cases and codes count."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.extract import TimeZoneName

if TYPE_CHECKING:
    from pipeline.extract.sosci.client import SosciConnector
    from pipeline.settings import Settings

MAX_CASES_PER_PAGE = 5_000


class SosciSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sosci"]
    base_url: str = Field(pattern=r"^https?://")  # e.g. https://www.soscisurvey.de or a university's own server
    project: str = Field(pattern=r"^[A-Za-z0-9_-]+$")  # the project's name, as in its URLs
    questionnaire: str | None = Field(default=None, min_length=1)  # QUESTNNR; None: every questionnaire
    timezone: TimeZoneName = "Europe/Berlin"
    finished_only: bool = True
    include_pretest: bool = False
    missing_codes: tuple[int, ...] = (-9,)
    multiple_choice: tuple[str, ...] = ()  # question ids (AB01) whose option variables are checkboxes
    cases_per_page: int = Field(default=500, ge=1, le=MAX_CASES_PER_PAGE)
    # a data edit in SoSci's data view may keep the case's data time: every reread_days a pull reads all again
    reread_days: int | None = Field(default=7, ge=1)
    volatile_fields: ClassVar[tuple[str, ...]] = ()  # every variable sent is part of a case's version

    @property
    def source(self) -> str:
        """Where the cases come from: one project's questionnaire (another questionnaire is another survey)."""
        return f"sosci:{self.project}/{self.questionnaire or '*'}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> SosciConnector:
        from pipeline.extract.sosci.client import SosciConnector

        return SosciConnector(partner_id, self, secret, settings, drop, until)

    def response_fields(self) -> dict[str, str]:
        """SoSci's names of a case's id and of the time taken as its submission (a partner reads them)."""
        return {"source_id": "CASE", "submitted_at": "LASTDATA"}
