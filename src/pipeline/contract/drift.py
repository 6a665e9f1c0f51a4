"""Schema drift per partner and run: partner fields no mapping names, mapped fields no response carried, answer
codes an item does not allow.

Each batch adds what it shows to ops.drift and ops.column_coverage in its own transaction, so the report of a
run that failed half-way covers what it loaded. Drift never stops a load: raw keeps every response as received,
unknown fields stay there unused, responses with a new answer code are quarantined (and name it row by row);
the report names each fact once per run, with the partner's own question code, so the operator can fix the
mapping or the recode and replay. Partner fields the registry lists under a partner's `ignore` were left
unmapped on purpose: they are never reported.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipeline import db
from pipeline.contract import validation as contract
from pipeline.contract.codebook import Codebook
from pipeline.registry import Partner

# A mapped field counts as missing once this many responses since it was last carried could have carried it,
# where the tool omits unanswered questions (Kobo): a few respondents skipping an optional question would
# otherwise read as a lost column. A tool that sends every question with each response proves it with one.
MISSING_AFTER = 20


class DriftRecorder:
    """Records the drift of one partner's batches; the loader calls it inside each batch's transaction."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        sql_dir: Path,
        codebook: Codebook,
        partner: Partner,
        run_id: str,
        windows: list[tuple[str, str, datetime, datetime]],
        timezone: str,
    ) -> None:
        self.con = con
        self.sql_dir = sql_dir
        self.codebook = codebook
        self.partner = partner
        self.run_id = run_id
        self.windows = windows
        self.timezone = timezone
        # the question giving the organisation type is known, never an unknown partner column
        self._org_type_field = {partner.asked_org_type.field} if partner.asked_org_type else set()
        self._coverage = {
            "partner_codes": list(partner.mapping),
            "targets": list(partner.mapping.values()),
            "item_codes": [target.partition("=")[0] for target in partner.mapping.values()],
        }
        self._asked = codebook.items_frame()[["instrument_version", "item_code"]]

    def record(
        self,
        failures: pd.DataFrame,
        naive_timezone: str,
        metadata_fields: frozenset[str],
        now: datetime,
        omits_unanswered: bool = True,
    ) -> set[str]:
        """Add the drift of the batch in batch_classified (its validation failures given) to the run's; returns
        the unknown fields (for ops.runs.unmapped_fields). metadata_fields: what the tool adds to every response
        (as the connector knows it after pulling the batch), never an unknown partner column. omits_unanswered:
        the tool leaves unanswered questions out, so a missing column proves little (MISSING_AFTER)."""
        db.run(self.con, self.sql_dir, "staging/batch_keys")
        self._coverage_of(naive_timezone, MISSING_AFTER if omits_unanswered else 1)
        unknown = db.run(
            self.con,
            self.sql_dir,
            "staging/unmapped_fields",
            {
                "partner_codes": list(self.partner.mapping),
                "known_fields": sorted(metadata_fields | set(self.partner.ignore) | self._org_type_field),
            },
        ).df()
        self.con.execute("drop table batch_keys")
        codes = contract.unknown_codes(failures, self.codebook)
        found = pd.concat(
            [
                unknown.assign(kind="unknown_column", code=""),
                codes.groupby(["item_code", "code"], as_index=False)
                .agg(responses=("record_id", "nunique"))
                .rename(columns={"item_code": "field"})
                .assign(kind="new_code"),
            ],
            ignore_index=True,
        )
        if len(found):
            self.con.register("batch_drift", found[["kind", "field", "code", "responses"]])
            try:
                db.run(self.con, self.sql_dir, "ops/add_drift", {
                    "run_id": self.run_id, "partner_id": self.partner.id, "detected_at": now,
                })  # fmt: skip
            finally:
                self.con.unregister("batch_drift")
        return set(unknown["field"])

    def _coverage_of(self, naive_timezone: str, missing_after: int) -> None:
        """Coverage of the batch's new versions: one read again unchanged was counted when it was new."""
        meta = self.con.execute("select record_id, submitted_at from batch_classified where disposition = 'new'").df()
        if meta.empty or not self.partner.mapping:
            return
        versions = contract.instrument_versions(meta, self.windows, naive_timezone, self.timezone)
        self.con.register("batch_versions", versions.dropna())
        self.con.register("asked_items", self._asked)
        try:
            db.run(self.con, self.sql_dir, "ops/record_coverage", {
                **self._coverage, "run_id": self.run_id, "partner_id": self.partner.id,
                "missing_after": missing_after,
            })  # fmt: skip
        finally:
            self.con.unregister("batch_versions")
            self.con.unregister("asked_items")


def report(
    con: duckdb.DuckDBPyConnection,
    sql_dir: Path,
    partner_id: str | None = None,
    runs: int = 1,
    run_id: str | None = None,
) -> pd.DataFrame:
    """The drift of each partner's last `runs` runs (or of run_id): partner_id, run_id, started_at, kind, field,
    code, responses, first_seen_at (the start of the first run that showed the same)."""
    return db.run(
        con,
        sql_dir,
        "ops/drift_report",
        {"partner_id": partner_id, "runs": runs, "run_id": run_id},
    ).df()


def repeat_groups(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> list[str]:
    """The repeat groups raw holds (ODK subtables, Kobo arrays), one line per partner and group: they are not
    mapped onto items, and `pipeline check` says so rather than letting them pass unnoticed."""
    rows = db.run(con, sql_dir, "ops/repeat_groups").fetchall()
    return [
        f"{partner_id}: repeat group {group!r} in {n} response{'' if n == 1 else 's'} (kept in raw only, not mapped)"
        for partner_id, group, n in rows
    ]


def describe(row: pd.Series | object, partner: Partner | None = None) -> str:
    """One fact of a drift report as the operator reads it, with the partner's own question code for a new
    answer code when the partner is known."""
    kind, field, code, n = row.kind, row.field, row.code, int(row.responses)  # type: ignore[attr-defined]
    responses = f"{n} response{'' if n == 1 else 's'}"
    if kind == "unknown_column":
        return f"unknown column {field!r} in {responses} (kept in raw, not loaded: map it or leave it)"
    if kind == "missing_column":
        return f"mapped column {field!r} in none of {responses} (renamed or removed in the partner's form?)"
    theirs = ", ".join(partner.question_codes().get(field, [])) if partner else ""
    where = f"{field} ({theirs})" if theirs else field
    return f"new answer code {code!r} for {where} in {responses} (quarantined: ask the partner, or recode and replay)"


def lines(frame: pd.DataFrame, partners: dict[str, Partner] | None = None) -> list[str]:
    """Every fact of a drift report as '<partner>: <fact>', marked when an earlier run showed it already."""
    out = []
    for row in frame.itertuples(index=False):
        partner = (partners or {}).get(row.partner_id)
        since = "" if row.first_seen_at == row.started_at else f" — since {row.first_seen_at:%Y-%m-%d}"
        out.append(f"{row.partner_id}: {describe(row, partner)}{since}")
    return out
