"""Erasing one respondent everywhere, on a data subject's request: raw, staging, core, quarantine, marts, files.

The partner's tool is the source of truth and may keep listing the response: the erasure is therefore kept in
ops.erased under the respondent key (the keyed HMAC of partner and response id, never the id in clear), and
every later pull leaves the response out, counted as a duplicate. Deleted rows stay in a DuckDB file's freed
blocks until they are reused, so the file is rewritten at the end: afterwards no byte of it holds the response.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pipeline import db
from pipeline.context import Context
from pipeline.errors import NothingStored
from pipeline.extract.files import FilesSettings
from pipeline.load import sources
from pipeline.publish import analyst
from pipeline.transform.marts import build_marts


@dataclass(frozen=True)
class Erasure:
    """What an erasure removed. versions: stored versions of the response (raw keeps each); loaded: whether
    the respondent was in core (and so in the marts); notes: what the operator still has to do by hand."""

    partner_id: str
    respondent_key: str
    versions: int
    loaded: bool
    notes: tuple[str, ...] = ()


def erase(
    ctx: Context,
    partner_id: str,
    source_id: str,
    erased_by: str,
    source: str | None = None,
    record_unknown: bool = False,
) -> Erasure:
    """Remove the partner's response source_id (the partner's own response id) of source (a survey, form, asset
    or drop folder the partner's responses came from; the one configured now when None) from every table in one
    transaction, keep the erasure in ops.erased, rebuild the marts and the analyst file, and rewrite the
    working file. The caller holds the writer lock. An id that nothing is stored under raises NothingStored
    (and changes nothing), unless record_unknown: then it is kept in ops.erased all the same, so a response
    erased before it was pulled is never loaded."""
    settings = ctx.settings
    partner = ctx.registry.partner(partner_id)
    con = ctx.connect()
    try:
        configured = sources.claim(con, settings.sql_dir, partner.id, partner.connector.source)
        origin = configured if source in (None, configured.name) else sources.known(con, partner.id, source)
        key = origin.respondent_key(con, sources.respondent_pads(settings), source_id)
        with db.transaction(con):
            con.execute(
                "create or replace temp table erase_target as select ?::varchar as partner_id, "
                "?::varchar as source, ?::varchar as source_id, ?::varchar as respondent_key",
                [partner.id, origin.name, source_id, key],
            )
            [(versions,)] = con.execute(
                "select count(*) from raw.records where partner_id = ? and source = ? and source_id = ?",
                [partner.id, origin.name, source_id],
            ).fetchall()
            [(loaded,)] = con.execute(
                "select count(*) > 0 from core.responses where respondent_key = ?", [key]
            ).fetchall()
            if not versions and not loaded and not record_unknown:
                raise NothingStored(partner.id, source_id, origin.name)
            db.run(con, settings.sql_dir, "ops/erase_respondent")
            db.run(con, settings.sql_dir, "ops/record_erasure", {
                "respondent_key": key, "partner_id": partner.id, "erased_at": datetime.now(UTC),
                "erased_by": erased_by, "versions_removed": versions,
            })  # fmt: skip
            con.execute("drop table erase_target")
            con.execute("drop table erase_records")
    finally:
        con.close()
    build_marts(ctx)
    if settings.analyst_db_path.exists():
        analyst.refresh(ctx)
    db.compact(settings.db_path, settings.sql_dir, settings.duckdb_memory_limit)
    notes = []
    if isinstance(partner.connector, FilesSettings):
        notes.append(
            f"the partner's export files in {partner.connector.archive_folder} still hold the response: "
            "remove its row there (the pipeline does not rewrite partners' files)"
        )
    return Erasure(partner.id, key, versions, bool(loaded), tuple(notes))
