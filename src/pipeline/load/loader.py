"""Loading a partner's pages into DuckDB: raw → staging → core, one transaction per batch, idempotently.

A batch is a few consecutive pages (settings.batch_rows responses at most, plus one page): large enough that
the fixed cost of a validation pass is shared, small enough that memory is bounded by the batch and never by
the pull. Each batch is handled as columns from end to end: DuckDB classifies its responses against what is
stored, maps partner codes to items, pandas and pandera check the batch, and valid rows are upserted into core.
A batch either loads whole (with its cursor and the run's counts) or not at all, so a crash loses nothing and a
rerun neither duplicates nor skips.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa

from pipeline import db
from pipeline.context import Context
from pipeline.contract import batch, drift
from pipeline.contract import validation as contract
from pipeline.extract import Connector, Page, json_records
from pipeline.load import runs, sources
from pipeline.registry import Partner

# The responses met so far in a run (raw/seen_in_batch): a later batch listing one again counts it as a duplicate.
_SEEN_SCHEMA = pa.schema([("source_id", pa.string()), ("record_sha256", pa.string())])


class _Loaded(NamedTuple):
    quarantined: int
    inserted: int
    updated: int
    failures: pd.DataFrame


class PartnerLoader:
    """Loads the pages of one partner's pull in one run; holds what the pages share."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        ctx: Context,
        partner: Partner,
        run: runs.PartnerRun,
    ) -> None:
        settings = ctx.settings
        self.con = con
        self.sql_dir = settings.sql_dir
        self.partner = partner
        self.run = run
        self.batch_rows = settings.batch_rows
        self.drift = drift.DriftRecorder(
            con, self.sql_dir, ctx.codebook, partner, run.run_id, ctx.registry.wave_windows(), settings.timezone
        )
        self._pads = sources.respondent_pads(settings)
        volatile = partner.connector.volatile_fields
        self.source = sources.claim(con, self.sql_dir, partner.id, partner.connector.source, volatile)
        self._volatile = sources.volatile_patch(volatile)
        refresh_reference(con, ctx)
        self._contract = batch.BatchContract.for_partner(ctx, partner)
        self._seen: list[pa.Table] = [_SEEN_SCHEMA.empty_table()]

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load the next batches through con: a pull holds the working file only while it loads, so each batch
        may come with a connection of its own (see pipeline.load.ingest)."""
        self.con = con
        self.drift.con = con

    def load(self, pages: list[Page], connector: Connector) -> None:
        """Load consecutive pages in one transaction; the run's counts and the cursor move with them.

        The connector's naive_timezone (the zone the tool means by a time without offset, stored with the pages
        for rebuilds) and metadata_fields are read now, after the pages were pulled: a connector may learn
        metadata from the pages themselves (ODK's links to repeat tables)."""
        naive_timezone = connector.naive_timezone
        now = datetime.now(UTC)
        page_ids = [uuid.uuid4().hex for _ in pages]
        records = pa.concat_tables(
            [
                page.records.append_column("page_id", pa.array([page_id] * page.records.num_rows, pa.string()))
                for page, page_id in zip(pages, page_ids, strict=True)
            ]
        )
        records = records.append_column("position", pa.array(range(records.num_rows), pa.int64()))
        records = records.set_column(
            records.schema.get_field_index("record"),
            "record",
            json_records.without_nested_identifiers(records.column("record"), self.partner.identifier_fields),
        )
        try:
            with db.transaction(self.con):
                for page, page_id in zip(pages, page_ids, strict=True):
                    db.run(self.con, self.sql_dir, "raw/insert_page", {
                        "page_id": page_id,
                        "partner_id": self.partner.id,
                        "run_id": self.run.run_id,
                        "fetched_at": now,
                        "request": page.request,
                        "sha256": hashlib.sha256(page.body).hexdigest(),
                        "bytes": len(page.body),
                        "n_records": page.records.num_rows,
                        "naive_timezone": naive_timezone,
                    })  # fmt: skip
                self.con.register("batch_records", records)
                self.con.register("run_seen", pa.concat_tables(self._seen))
                db.run(self.con, self.sql_dir, "raw/classify_batch", {
                    "partner_id": self.partner.id, "source": self.source.name, "key_scope": self.source.key_scope,
                    "volatile": self._volatile, "inner_pad": self._pads[0], "outer_pad": self._pads[1],
                })  # fmt: skip
                db.run(self.con, self.sql_dir, "ops/note_refused", {"refused_at": now})
                db.run(self.con, self.sql_dir, "raw/insert_records", {"partner_id": self.partner.id, "fetched_at": now})
                seen = db.relation(self.con, self.sql_dir, "raw/seen_in_batch").to_arrow_table()
                classified = "select disposition, count(*) from batch_classified group by disposition"
                counts = dict(self.con.execute(classified).fetchall())
                quarantined, inserted, updated, failures = self._load_new(now, naive_timezone)
                if counts.get("new"):  # drift is read from new versions only
                    known = connector.metadata_fields | {json_records.UNDECODABLE}
                    self.run.unmapped_fields |= self.drift.record(
                        failures, naive_timezone, known, now, connector.omits_unanswered
                    )
                db.run(self.con, self.sql_dir, "ops/forget_unrejected", {
                    "partner_id": self.partner.id, "source": self.source.name,
                })  # fmt: skip
                withdrawn = self._withdraw([i for page in pages for i in page.rejected], now)
                if withdrawn:
                    self.run.add_gone(withdrawn)
                cursor = next((p.cursor for p in reversed(pages) if p.cursor), None)
                if cursor:
                    db.run(self.con, self.sql_dir, "ops/set_cursor", {
                        "partner_id": self.partner.id, "source": self.source.name, "cursor": cursor, "updated_at": now,
                    })  # fmt: skip
                self.run.add(
                    {
                        "fetched": records.num_rows,
                        "unchanged": counts.get("unchanged", 0),
                        "duplicates": counts.get("duplicate", 0),
                        "quarantined": quarantined,
                        "inserted": inserted,
                        "updated": updated,
                    },
                    pages=len(pages),
                )
                runs.record(self.con, self.sql_dir, self.run)
        finally:
            self.con.unregister("batch_records")
            self.con.unregister("run_seen")
        self._seen.append(seen.cast(_SEEN_SCHEMA))

    def _withdraw(self, rejected: list[str], now: datetime) -> list[str]:
        """Keep the responses the partner rejected in its review out of core (see ops/withdraw_rejected); returns
        the ids of those that were in core."""
        if not rejected:
            return []
        n = len(rejected)
        self.con.register("batch_rejected", pa.table({
            "partner_id": [self.partner.id] * n,
            "source": [self.source.name] * n,
            "source_id": rejected,
            "rejected_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
            "run_id": [self.run.run_id] * n,
        }))  # fmt: skip
        try:
            db.run(self.con, self.sql_dir, "ops/withdrawn")
            self._note_removals("withdrawn")
            db.run(self.con, self.sql_dir, "ops/withdraw_rejected")
            removed = self.con.execute("select source_id from withdrawn order by source_id").fetchall()
            self.con.execute("drop table withdrawn")
        finally:
            self.con.unregister("batch_rejected")
        return [source_id for (source_id,) in removed]

    def _note_removals(self, respondents: str) -> None:
        """Keep what the marts counted of the respondents whose answers are about to go (ops/note_removed_answers):
        the next build subtracts it. respondents names a relation with their respondent_key."""
        self.con.execute(f"create or replace temp view leaving as select respondent_key from {respondents}")
        db.run(self.con, self.sql_dir, "ops/note_removed_answers")
        self.con.execute("drop view leaving")

    def reload(self, only_quarantined: bool) -> tuple[int, int, int]:
        """Load stored versions again from raw: every version in the order fetched (a rebuild), or the
        quarantined latest versions (a replay after a codebook or mapping fix). Returns (quarantined, inserted,
        updated); each slice is one transaction."""
        totals = [0, 0, 0]
        db.run(
            self.con,
            self.sql_dir,
            "raw/reload_plan",
            {"partner_id": self.partner.id, "only_quarantined": only_quarantined},
        )
        plan = self.con.execute(
            "select round, source, naive_timezone, count(*) from reload_candidates group by all order by all"
        ).fetchall()
        for round_no, source, naive_timezone, n in plan:
            for offset in range(0, n, self.batch_rows):
                now = datetime.now(UTC)
                with db.transaction(self.con):
                    db.run(self.con, self.sql_dir, "raw/reload_batch", {
                        "naive_timezone": naive_timezone, "round": round_no, "source": source,
                        "limit": self.batch_rows, "offset": offset,
                    })  # fmt: skip
                    counts = self._load_new(now, naive_timezone or "UTC")[:3]
                totals = [a + b for a, b in zip(totals, counts, strict=True)]
        return totals[0], totals[1], totals[2]

    def _load_new(self, now: datetime, naive_timezone: str) -> _Loaded:
        """Map, validate and load the batch's new versions; returns the counts and the validation failures."""
        db.run(self.con, self.sql_dir, "ops/forget_rejections")
        [(new,)] = self.con.execute("select count(*) from batch_classified where disposition = 'new'").fetchall()
        if not new:
            return _Loaded(0, 0, 0, pd.DataFrame(columns=contract.FAILURE_COLUMNS))
        checked = self._contract.check(self.con, self.sql_dir, naive_timezone, now)
        if len(checked.failures):
            with db.registered(self.con, batch_failures=checked.failures):
                db.run(self.con, self.sql_dir, "ops/insert_quarantine", {
                    "run_id": self.run.run_id, "partner_id": self.partner.id,
                    "schema_version": self._contract.schema.name, "quarantined_at": now,
                })  # fmt: skip
        quarantined = checked.failures["record_id"].nunique()
        inserted, updated = self._upsert(checked.valid, now) if len(checked.valid) else (0, 0)
        self.con.execute("drop table batch_answers")
        return _Loaded(quarantined, inserted, updated, checked.failures)

    def _upsert(self, valid: pd.DataFrame, now: datetime) -> tuple[int, int]:
        responses = valid[contract.META_COLUMNS].rename_axis("record_id").reset_index()
        batch.valid_answers(self.con, self.sql_dir, valid)
        with db.registered(self.con, valid_responses=responses):
            db.run(self.con, self.sql_dir, "staging/batch_responses", {
                "partner_id": self.partner.id, "loaded_at": now,
                "inner_pad": self._pads[0], "outer_pad": self._pads[1],
            })  # fmt: skip
            db.run(self.con, self.sql_dir, "staging/insert_responses")
            db.run(self.con, self.sql_dir, "staging/insert_answers")
            inserted, updated = db.run(self.con, self.sql_dir, "core/count_upserts").fetchone()  # type: ignore[misc]
            if updated:
                self._note_removals("batch_responses")
                db.run(self.con, self.sql_dir, "core/delete_answers")
            db.run(self.con, self.sql_dir, "core/upsert_responses")
            db.run(self.con, self.sql_dir, "core/replace_answers")
            db.run(self.con, self.sql_dir, "ops/resolve_quarantine", {"partner_id": self.partner.id})
            self.con.execute("drop table batch_responses")
            self.con.execute("drop table valid_answers")
        return inserted, updated


def cursor(con: duckdb.DuckDBPyConnection, source: sources.Source) -> str | None:
    """Where the pull from this source stands; None for a source never pulled (a new survey is read whole)."""
    row = con.execute(
        "select cursor from ops.cursors where partner_id = ? and source = ?", [source.partner_id, source.name]
    ).fetchone()
    return row[0] if row else None


def start_from(
    con: duckdb.DuckDBPyConnection, source: sources.Source, reread_days: int | None, now: datetime
) -> str | None:
    """Where the pull starts: the source's cursor, or None (from the start) when the partner's last full read is
    reread_days old.

    Kobo and LimeSurvey cannot list what was edited since a time (an edit keeps a response's submission time
    and id), so an edit below the cursor is seen only by reading everything again: the responses read again
    count as unchanged, an edited one as updated. None for reread_days: the cursor always (the connector sees
    edits itself, or there are none)."""
    if reread_days is None:
        return cursor(con, source)
    row = con.execute("select read_at from ops.full_reads where partner_id = ?", [source.partner_id]).fetchone()
    if row is None or (now - row[0]).total_seconds() >= reread_days * 86_400:
        return None
    return cursor(con, source)


def gone_at_partner(
    con: duckdb.DuckDBPyConnection, sql_dir: Path, source: sources.Source, listed: list[pa.ChunkedArray]
) -> list[str]:
    """The source's responses in core that a full read of it did not list (`listed`: the source ids it read):
    deleted at the partner since they were loaded. They stay in core: the operator decides (`pipeline erase`).
    Responses of the partner's other sources (an earlier survey) are not the full read's business."""
    ids = pa.chunked_array([chunk for column in listed for chunk in column.chunks], type=pa.string())
    con.register("listed", pa.table({"source_id": ids}))
    try:
        rows = db.run(
            con, sql_dir, "ops/gone_at_partner", {"partner_id": source.partner_id, "source": source.name}
        ).fetchall()
    finally:
        con.unregister("listed")
    return [source_id for (source_id,) in rows]


def record_full_read(con: duckdb.DuckDBPyConnection, sql_dir: Path, partner_id: str, started: datetime) -> None:
    """A pull from the start ended: everything the partner held when it started has been read."""
    db.run(con, sql_dir, "ops/set_full_read", {"partner_id": partner_id, "read_at": started})


REFERENCE = "reference"


def refresh_reference(con: duckdb.DuckDBPyConnection, ctx: Context) -> None:
    """Replace the labelled reference tables from the codebook and the registry, when they differ from what
    the working file holds (ops.built_from keeps their digest): every partner's ingest asks, most find nothing
    changed."""
    frames = _reference_frames(ctx)
    digest = hashlib.sha256()
    for name, frame in frames.items():
        digest.update("|".join([name, *frame.columns]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    if not db.changed(con, REFERENCE, digest.hexdigest()):
        return
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        with db.transaction(con):
            db.run(con, ctx.settings.sql_dir, "core/refresh_reference")
            db.built(con, REFERENCE, digest.hexdigest())
    finally:
        for name in frames:
            con.unregister(name)


@lru_cache(maxsize=4)
def _reference_frames(ctx: Context) -> dict[str, pd.DataFrame]:
    """The reference tables as the context's codebook and registry give them (made once per context)."""
    codebook, registry = ctx.codebook, ctx.registry
    return {
        "ref_items": codebook.items_frame(),
        "ref_options": codebook.options_frame(),
        "ref_org_types": pd.DataFrame(
            {
                "org_type": [o.code for o in codebook.org_types],
                "org_type_label": [o.label for o in codebook.org_types],
            }
        ),
        "ref_waves": pd.DataFrame(
            [
                {
                    "wave": w.code,
                    "wave_label": w.label,
                    "instrument_version": w.instrument_version,
                    "opens": w.opens,
                    "closes": w.closes,
                }
                for w in registry.waves
            ]
        ),  # fmt: skip
        "ref_partners": pd.DataFrame(
            [
                {"partner_id": p.id, "partner_name": p.name, "org_type": None if p.asked_org_type else p.org_type}
                for p in registry.partners
            ]
        ),
    }


def reload_partner(
    con: duckdb.DuckDBPyConnection, ctx: Context, partner_id: str, only_quarantined: bool, run_id: str
) -> tuple[int, int, int]:
    """Load a partner's stored versions again (see PartnerLoader.reload); no partner is contacted."""
    partner = ctx.registry.partner(partner_id)
    loader = PartnerLoader(con, ctx, partner, runs.PartnerRun(run_id, partner.id))
    return loader.reload(only_quarantined)
