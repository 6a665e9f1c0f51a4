"""The runs ledger: what every run did per partner, the accounting an operator and a partner can check."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import db
from pipeline.service import processes

COUNTS = ("fetched", "inserted", "updated", "unchanged", "quarantined", "duplicates")
GONE_NAMED = 10  # ids of responses gone at the partner named in the run report
INTERRUPTED = "interrupted"


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
    # The run's schema drift, one line per fact (see pipeline.contract.drift), for the run report; not stored here.
    drift: list[str] = field(default_factory=list)
    # The process writing the row (see pipeline.service.processes): once it is gone, a row left running was
    # interrupted.
    process: str | None = field(default_factory=processes.this_process)

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
    names = (
        "run_id", "partner_id", "started_at", "finished_at", "status", "pages", "gone", "gone_ids", "error", "process"
    )  # fmt: skip
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


def interrupted_error(partner_id: str, process: str) -> str:
    """Why a row stopped at running: what the operator reads in `pipeline status`."""
    return (
        f"partner {partner_id}: run interrupted: its process (pid {processes.pid_of(process)}) ended before the run "
        "finished (killed, or the machine stopped); what it had loaded stays, the next run goes on from there"
    )


def mark_interrupted(con: duckdb.DuckDBPyConnection, sql_dir: Path, partner_id: str) -> int:
    """Mark the partner's rows left at running by a process that is gone as interrupted; returns how many.

    A row whose process is unknown (written before processes were recorded) is left as it is.
    """
    left = con.execute(
        "select distinct process from ops.runs where partner_id = ? and status = 'running' and process is not null",
        [partner_id],
    ).fetchall()
    marked = 0
    for (process,) in left:
        if processes.gone(process):
            params = {"partner_id": partner_id, "process": process, "error": interrupted_error(partner_id, process)}
            marked += db.run(con, sql_dir, "ops/mark_interrupted", params).fetchone()[0]
    return marked


def last_runs(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> pd.DataFrame:
    """The latest run of every partner; one left at running by a process that is gone shows as interrupted
    (`pipeline status` reads, so the ledger itself is corrected by the partner's next run)."""
    frame = db.run(con, sql_dir, "ops/last_runs").df()
    for i, row in frame[frame["status"] == "running"].iterrows():
        if isinstance(row["process"], str) and processes.gone(row["process"]):
            frame.loc[i, ["status", "error"]] = [INTERRUPTED, interrupted_error(row["partner_id"], row["process"])]
    return frame
