"""Rebuild the marts from core by running sql/marts/*.sql in name order, in one transaction, for the waves whose
responses changed since the last build (the other waves' rows are kept); skipped when nothing they are made of
changed (a nightly run with nothing new costs no rebuild). A night's new responses land in the open wave, so a
store of many waves rebuilds one. Every wave is rebuilt when the SQL or a reference table (items, labels, waves,
partners) changed, or a mart is missing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import duckdb

from pipeline import db
from pipeline.context import Context

MARTS = "marts"
SHAPE = "marts_shape"
WAVE = "marts wave "
_WAVE_PART = "wave:"


def build_marts(ctx: Context) -> list[str]:
    """Rebuild the marts where their inputs changed; returns the waves rebuilt (none: the marts were current)."""
    settings = ctx.settings
    names = sorted(p.stem for p in (settings.sql_dir / "marts").glob("*.sql"))
    files = [settings.sql_dir / "marts" / f"{n}.sql" for n in names]
    con = ctx.connect()
    try:
        parts = _inputs(con, settings.sql_dir)
        digest = _digest(parts, files)
        if not db.changed(con, MARTS, digest):
            return []
        waves = {part.removeprefix(_WAVE_PART): d for part, d in parts.items() if part.startswith(_WAVE_PART)}
        shape = _digest({p: d for p, d in parts.items() if not p.startswith(_WAVE_PART) and p != "answers"}, files)
        with db.transaction(con):
            rebuilt = _waves_to_build(con, settings.sql_dir, names, waves, shape)
            con.execute("create or replace temp table marts_waves as select unnest(?::varchar[]) as wave", [rebuilt])
            for name in names:
                db.run(con, settings.sql_dir, f"marts/{name}")
            con.execute("delete from ops.built_from where starts_with(artefact, ?)", [WAVE])
            for wave, wave_digest in waves.items():
                db.built(con, WAVE + wave, wave_digest)
            db.built(con, SHAPE, shape)
            db.built(con, MARTS, digest)
    finally:
        con.close()
    return rebuilt


def _waves_to_build(
    con: duckdb.DuckDBPyConnection, sql_dir: Path, names: list[str], waves: dict[str, str], shape: str
) -> list[str]:
    """The waves whose responses changed, and those gone; every wave (the marts dropped first, so that none keeps
    a column its SQL no longer makes) when the shape changed or a mart is missing."""
    built = dict(
        con.execute(
            "select artefact[length(?) + 1:], inputs_sha256 from ops.built_from where starts_with(artefact, ?)",
            [WAVE, WAVE],
        ).fetchall()
    )
    made = {
        relation
        for name in names
        for relation in db.header(db.sql(sql_dir, f"marts/{name}")).writes
        if relation.startswith("marts.")
    }
    if built and not db.changed(con, SHAPE, shape) and not db.missing_inputs(con, dict.fromkeys(made, "")):
        return sorted({w for w, d in waves.items() if built.get(w) != d} | (built.keys() - waves.keys()))
    for (table,) in con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'marts'"
    ).fetchall():
        con.execute(f'drop table marts."{table}"')
    return sorted(waves)


def _inputs(con: duckdb.DuckDBPyConnection, sql_dir: Path) -> dict[str, str]:
    """What the marts and the analyst file are made of, part by part (ops/marts_inputs)."""
    return dict(db.run(con, sql_dir, "ops/marts_inputs").fetchall())


def inputs_digest(con: duckdb.DuckDBPyConnection, sql_dir: Path, files: Iterable[Path]) -> str:
    """A digest of the core rows derived artefacts read and of the files (SQL, documentation) that make them."""
    return _digest(_inputs(con, sql_dir), files)


def _digest(parts: dict[str, str], files: Iterable[Path]) -> str:
    text = "|".join(f"{part}={digest}" for part, digest in sorted(parts.items()))
    return hashlib.sha256(f"{text}\0{files_digest(files)}".encode()).hexdigest()


def files_digest(files: Iterable[Path]) -> str:
    """A digest of the files' names and contents."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
