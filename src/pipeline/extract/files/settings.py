"""A drop folder's settings in the registry: where the files are, how they are written, which columns say what."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.extract import TimeZoneName

if TYPE_CHECKING:
    from pipeline.extract.files.drop_folder import FilesConnector
    from pipeline.settings import Settings

DAY_FIRST = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y")


class FilesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["files"]
    folder: Path
    archive: Path = Path("archiv")  # relative to folder unless absolute
    patterns: tuple[str, ...] = ("*.csv", "*.xlsx")
    encoding: str = "auto"
    delimiter: str = Field(default="auto", pattern=r'^(auto|[^"\r\n])$')
    decimal: Literal[",", "."] = ","
    date_formats: tuple[str, ...] = Field(default=DAY_FIRST, min_length=1)
    reread_days: ClassVar[None] = None  # a file is read once; a corrected response comes in a new file
    volatile_fields: ClassVar[tuple[str, ...]] = ()  # every column is part of a response's version
    timezone: TimeZoneName = "Europe/Berlin"
    id_column: str = Field(min_length=1)
    submitted_column: str = Field(min_length=1)
    # Columns the partner's export adds to every row that are not questions (start time, duration): known,
    # so never reported as unmapped partner questions.
    metadata_columns: tuple[str, ...] = ()
    settle_seconds: float = Field(default=2.0, ge=0)
    # A file's rows go to the loader in pages of this many, so a large export loads batch by batch, in the
    # memory of any other partner's batch.
    rows_per_page: int = Field(default=1000, ge=1)

    @field_validator("patterns")
    @classmethod
    def _names_only(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        bad = [p for p in patterns if "/" in p or "\\" in p or ".." in p]
        if bad:
            raise ValueError(f"patterns match file names in the folder, never paths: {bad}")
        return patterns

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        if encoding != "auto":
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise ValueError(f"unknown encoding {encoding!r} (use auto, utf-8 or cp1252)") from exc
        return encoding

    @property
    def archive_folder(self) -> Path:
        return self.folder / self.archive

    @property
    def source(self) -> str:
        """Where the responses come from: the drop folder as configured (moving it makes a new source)."""
        return f"files:{self.folder}"

    def open(
        self, partner_id: str, secret: str, settings: Settings, drop: tuple[str, ...], *, until: float | None = None
    ) -> FilesConnector:
        """secret, settings and until are not needed: the drop folder is all there is, read in moments."""
        from pipeline.extract.files.drop_folder import FilesConnector

        return FilesConnector(partner_id, self, drop)

    def response_fields(self) -> dict[str, str]:
        """The tool's own names of a response's id and of its submission time: what a partner reads in a
        rejection of either."""
        return {"source_id": self.id_column, "submitted_at": self.submitted_column}
