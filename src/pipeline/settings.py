"""One typed settings object, overridable by PIPELINE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The editable install keeps the package inside the checkout, so the project's data files (sql/, schemas/)
# are found relative to it; PIPELINE_PROJECT_DIR points elsewhere when the code is installed apart from them.
_CHECKOUT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPELINE_", extra="ignore")

    project_dir: Path = _CHECKOUT
    data_dir: Path = Field(default_factory=lambda: _CHECKOUT / "data")
    partners_file: Path = Field(default_factory=lambda: _CHECKOUT / "partners.yaml")
    codebook_file: Path = Field(default_factory=lambda: _CHECKOUT / "schemas" / "codebook" / "chancencheck.yaml")
    # The city's time zone: wave windows are dates there.
    timezone: str = "Europe/Berlin"
    respondent_key_env: str = "PIPELINE_RESPONDENT_KEY"
    disclosure_k: int = Field(default=5, ge=2)
    http_timeout_seconds: float = 30.0
    http_retries: int = 5
    page_size: int = Field(default=1000, ge=1)
    # Responses validated and loaded together (pages are never split): bounds memory, shares fixed costs.
    batch_rows: int = Field(default=5000, ge=1)
    # A run waits this long for another run writing the DuckDB file (one writer at a time), then gives up.
    writer_wait_seconds: float = Field(default=3600.0, gt=0)

    # Operating as a service (`pipeline server`), always on 127.0.0.1; a port of 0 picks a free one.
    prefect_port: int = Field(default=4200, ge=0, le=65535)
    webhook_port: int = Field(default=8787, ge=0, le=65535)
    # The nightly run's schedule, in the city's time zone (`timezone`).
    nightly_cron: str = "0 2 * * *"
    # A requested publish waits this long for further partner ingests, which join it: one publish per burst.
    publish_window_seconds: int = Field(default=30, ge=1)
    webhook_max_body_bytes: int = Field(default=64 * 1024, ge=1)
    # A signed webhook call older than this is a replay; one further in the future than the skew is refused.
    webhook_replay_window_seconds: int = Field(default=300, ge=1)
    webhook_clock_skew_seconds: int = Field(default=30, ge=0)

    @property
    def sql_dir(self) -> Path:
        return self.project_dir / "sql"

    @cached_property
    def db_path(self) -> Path:
        return self.data_dir / "pipeline.duckdb"

    @cached_property
    def publish_dir(self) -> Path:
        return self.data_dir / "published"
