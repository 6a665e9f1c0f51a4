"""One typed settings object, overridable by PIPELINE_* environment variables."""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _checkout() -> Path | None:
    """The checkout the package runs from (an editable install or the tests), if it does."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "sql").is_dir() else None


def _shipped() -> Path:
    """Where sql/ and schemas/ are: the checkout's top-level folders, or the copies a wheel ships in the package
    (read through importlib.resources, so that an installed pipeline needs no checkout beside it)."""
    return _checkout() or Path(str(resources.files("pipeline")))


def _home() -> Path:
    """Where the operator's files live by default (data/, partners.yaml): the checkout, or the working directory
    of an installed pipeline."""
    return _checkout() or Path.cwd()


def largest_cell_key_variance(max_deviation: int) -> float:
    """The most variance the cell key method's noise can have with deviations up to max_deviation (none of it on
    0, the same on each of ±1..±max_deviation)."""
    return sum(d * d for d in range(1, max_deviation + 1)) / max_deviation


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIPELINE_", extra="ignore")

    # sql/ and schemas/ are read from here
    project_dir: Path = Field(default_factory=_shipped)
    data_dir: Path = Field(default_factory=lambda: _home() / "data")
    partners_file: Path = Field(default_factory=lambda: _home() / "partners.yaml")
    codebook_file: Path = Field(default_factory=lambda: _shipped() / "schemas" / "codebook" / "chancencheck.yaml")
    # what every table and column of the published DuckDB files means (their COMMENT ON)
    documentation_file: Path = Field(default_factory=lambda: _shipped() / "schemas" / "documentation.yaml")
    # The city's time zone: wave windows are dates there.
    timezone: str = "Europe/Berlin"
    respondent_key_env: str = "PIPELINE_RESPONDENT_KEY"
    # Disclosure control of what the steering group sees: counts below k are hidden, and so is every figure
    # that would give one back. The group rule hides a group of a special-category question (GDPR Art. 9)
    # whose responses all fall into one answer.
    disclosure_k: int = Field(default=5, ge=2)
    disclosure_group_rule: bool = True
    # The protection level the audit demands of a hidden small count n, as Statistics Norway's
    # GaussSuppression sets it (protectionIntervals): an attacker's upper bound at least n + upper_margin,
    # and the interval at least min_interval wide.
    disclosure_upper_margin: float = Field(default=1.0, ge=0)
    disclosure_min_interval: float = Field(default=2.0, ge=0)
    # How small counts are protected: "suppression" hides them and what gives them back (checked by the LP
    # gate); "cell_key" publishes every count with small consistent noise instead (pipeline.disclosure.cell_key:
    # counts 1..k-1 appear as 0 or k, the others within ±max_deviation, unbiased, with the variance given).
    disclosure_method: Literal["suppression", "cell_key"] = "suppression"
    cell_key_max_deviation: int = Field(default=2, ge=1, le=5)
    cell_key_variance: float = Field(default=1.0, gt=0)
    # Publish waves still open too (by default only closed waves are published): every release then shows the
    # running wave's figures so far, and its audit covers the previous release jointly, so that comparing two
    # releases does not give away what the newcomers answered.
    publish_open_waves: bool = False
    http_timeout_seconds: float = 30.0
    http_retries: int = 5
    # A server's Retry-After above this is waited only this long (one asked for 121 s while a run held the writer).
    http_retry_after_max_seconds: float = Field(default=30.0, ge=0)
    # One request, its retries and the reading of its body included, ends by then: a server that trickles its
    # answer byte by byte never trips the socket timeout, which counts per read.
    http_request_deadline_seconds: float = Field(default=120.0, gt=0)
    page_size: int = Field(default=1000, ge=1)
    # Responses validated and loaded together (pages are never split): bounds memory, shares fixed costs.
    batch_rows: int = Field(default=5000, ge=1)
    # Pages pulled ahead of the load by a thread of its own (about a batch of Kobo's or ODK's pages of 1,000), so
    # that the partner is asked while DuckDB loads; 0 pulls and loads by turns in one thread.
    prefetch_pages: int = Field(default=8, ge=0)
    # DuckDB's buffer pool for the working file (it spills to disk beyond): it would otherwise grow towards 80%
    # of the machine's memory as the file grows, and a nightly job shares the machine. At 1M responses 512MB
    # took the run's peak from 2.6 to 1.4 GB at the same speed (benchmarks/README.md).
    duckdb_memory_limit: str = Field(default="512MB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    # A run waits this long for another run writing the DuckDB file (one writer at a time), then gives up.
    writer_wait_seconds: float = Field(default=3600.0, gt=0)
    # A run pulls this many partners at once (each holds the writer lock only while it loads a batch), and
    # spends at most partner_budget_seconds on one partner, its retries and their waits included.
    partners_at_once: int = Field(default=4, ge=1)
    partner_budget_seconds: float = Field(default=120.0, gt=0)

    # Operating as a service (`pipeline server`), always on 127.0.0.1; a port of 0 picks a free one.
    prefect_port: int = Field(default=4200, ge=0, le=65535)
    webhook_port: int = Field(default=8787, ge=0, le=65535)
    # The nightly run's schedule, in the city's time zone (`timezone`).
    nightly_cron: str = "0 2 * * *"
    # A requested publish waits this long for further partner ingests, which join it: one publish per burst.
    publish_window_seconds: int = Field(default=5, ge=1)
    # Flow runs the served deployments run at once (one process each); further runs wait, still scheduled.
    served_runs_at_once: int = Field(default=4, ge=1)
    webhook_max_body_bytes: int = Field(default=64 * 1024, ge=1)
    # A signed webhook call older than this is a replay; one further in the future than the skew is refused.
    webhook_replay_window_seconds: int = Field(default=300, ge=1)
    webhook_clock_skew_seconds: int = Field(default=30, ge=0)

    @field_validator("cell_key_variance")
    @classmethod
    def _variance_within_deviation(cls, variance: float, info: ValidationInfo) -> float:
        deviation = info.data.get("cell_key_max_deviation")
        if deviation is not None and variance > largest_cell_key_variance(deviation):
            raise ValueError(
                f"a variance of {variance} is more than a maximum deviation of {deviation} allows "
                f"(at most {largest_cell_key_variance(deviation):g})"
            )
        return variance

    @property
    def sql_dir(self) -> Path:
        return self.project_dir / "sql"

    @cached_property
    def db_path(self) -> Path:
        return self.data_dir / "pipeline.duckdb"

    @cached_property
    def webhook_calls_path(self) -> Path:
        """The receiver's memory of the calls it accepted (SQLite): a replay is refused after a restart too."""
        return self.data_dir / "webhook-calls.sqlite"

    @cached_property
    def releases_dir(self) -> Path:
        return self.data_dir / "releases"

    @cached_property
    def analyst_db_path(self) -> Path:
        return self.data_dir / "analyst.duckdb"
