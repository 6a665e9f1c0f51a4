"""The runs ledger: what every run did per partner, the accounting an operator and a partner can check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import db

COUNTS = ("fetched", "inserted", "updated", "unchanged", "quarantined", "duplicates")
GONE_NAMED = 10  # ids of responses gone at the partner named in the run report


@dataclass
class PartnerRun:
    """Counts of one partner in one run. Invariant: fetched = inserted + updated + unchanged + quarantined
    + duplicates, batch by batch, because every response of a batch gets exactly one disposition."""

    run_id: str
    partner_id: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    status: str = "running"
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    duplicates: int = 0
    # Responses in core a full read no longer found at the partner (deleted there) or that the partner rejected in
    # its review, the first few ids of them; None when the run read from the cursor and met no rejection. Not
    # part of the invariant: they were fetched in earlier runs.
    gone: int | None = None
    gone_ids: list[str] = field(default_factory=list)
    unmapped_fields: set[str] = field(default_factory=set)
    error: str | None = None
    # The run's schema drift, one line per fact (see pipeline.drift), for the run report; not stored here.
    drift: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated

    def add(self, counts: dict[str, int], pages: int) -> None:
        self.pages += pages
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + counts.get(name, 0))

    def add_gone(self, source_ids: list[str]) -> None:
        """Responses in core the partner no longer offers: deleted there (found by a full read) or rejected in
        its review (removed from core); the first GONE_NAMED are named."""
        self.gone = (self.gone or 0) + len(source_ids)
        self.gone_ids = (self.gone_ids + source_ids)[:GONE_NAMED]

    def finish(self, error: str | None = None) -> None:
        self.finished_at = datetime.now(UTC)
        self.status, self.error = ("failed", error) if error else ("ok", None)


def record(con: duckdb.DuckDBPyConnection, sql_dir: Path, run: PartnerRun) -> None:
    names = ("run_id", "partner_id", "started_at", "finished_at", "status", "pages", "gone", "gone_ids", "error")
    params = {name: getattr(run, name) for name in names}
    params.update({name: getattr(run, name) for name in COUNTS})
    params["unmapped_fields"] = sorted(run.unmapped_fields)
    params["gone_ids"] = None if run.gone is None else run.gone_ids
    db.run(con, sql_dir, "ops/upsert_run", params)


def resume(con: duckdb.DuckDBPyConnection, run_id: str, partner_id: str) -> PartnerRun:
    """The partner's counts so far in this run: a retried task adds to what its earlier attempts loaded."""
    row = con.execute(
        f"select started_at, pages, {', '.join(COUNTS)} from ops.runs where run_id = ? and partner_id = ?",
        [run_id, partner_id],
    ).fetchone()
    if row is None:
        return PartnerRun(run_id, partner_id)
    started_at, pages, *counts = row
    return PartnerRun(run_id, partner_id, started_at=started_at, pages=pages, **dict(zip(COUNTS, counts, strict=True)))


def gone_note(partner_id: str, gone: int, ids: list[str]) -> str:
    """What the operator reads about responses a full read no longer found at the partner."""
    shown = ", ".join(ids) + (", …" if gone > len(ids) else "")
    return (
        f"{partner_id}: {gone} responses in core are no longer at the partner (deleted there?) or it rejected them "
        f"in its review (removed from core): {shown}; a deleted one stays until "
        f"`pipeline erase --partner {partner_id} --response ID` removes it"
    )


def last_runs(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> pd.DataFrame:
    return con.execute(db.sql(sql_dir, "ops/last_runs")).df()
