"""Rebuild the marts from core by running sql/marts/*.sql in name order, in one transaction; skipped when
nothing they are made of changed since the last build (a nightly run with nothing new costs no rebuild)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import duckdb

from pipeline import db
from pipeline.context import Context

MARTS = "marts"


def build_marts(ctx: Context) -> list[str]:
    """The marts' names; they are rebuilt only when their inputs changed (see `changed`)."""
    settings = ctx.settings
    names = sorted(p.stem for p in (settings.sql_dir / "marts").glob("*.sql"))
    con = ctx.connect()
    try:
        digest = inputs_digest(con, settings.sql_dir, [settings.sql_dir / "marts" / f"{n}.sql" for n in names])
        if not db.changed(con, MARTS, digest):
            return names
        with db.transaction(con):
            for name in names:
                db.run(con, settings.sql_dir, f"marts/{name}")
            db.built(con, MARTS, digest)
    finally:
        con.close()
    return names


def inputs_digest(con: duckdb.DuckDBPyConnection, sql_dir: Path, files: Iterable[Path]) -> str:
    """A digest of the core rows derived artefacts read and of the files (SQL, documentation) that make them."""
    rows = db.run(con, sql_dir, "ops/marts_inputs").fetchone()[0]  # type: ignore[index]
    return hashlib.sha256(f"{rows}\0{files_digest(files)}".encode()).hexdigest()


def files_digest(files: Iterable[Path]) -> str:
    """A digest of the files' names and contents."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
