"""The analysts' DuckDB file: core and marts under pseudonymous keys, German views, every column documented.

Analysts query it with SQL at any time, also while a run writes: the pipeline's working file admits one
writer and no reader beside it, so analysts get a file of their own. It is built under a temporary name and
renamed over the previous one; a connection already open keeps reading the old file, a new one opens the new
file whole. The new file starts as a copy of the previous one, whose responses and answers are brought up to
date by the respondents that changed: a night with few new responses costs a file copy and the change, not a
write of every answer; its free texts (a row per text) are kept in place the same way, the other marts are
small and copied whole. It is written whole when the SQL or documentation that shape it changed, or the marts'
shape (their SQL, the reference tables), and when a respondent it holds was erased or withdrawn (their bytes
would outlive a delete in the copy). `COMMENT ON` every table, view and column (schemas/documentation.yaml)
makes `duckdb_tables()` and `duckdb_columns()` its documentation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import duckdb

from pipeline import db
from pipeline.context import Context
from pipeline.publish.documentation import document
from pipeline.settings import Settings
from pipeline.transform import marts as transform

ANALYST = "analyst_file"
SHAPE = "analyst_file_shape"
FREE_TEXTS = "free_texts"


def refresh(ctx: Context) -> Path:
    """Write the analyst file from the working file (the caller holds the writer lock), unless the file there
    was made from the same core rows, SQL and documentation (a run with nothing new leaves it as it is)."""
    settings = ctx.settings
    target = settings.analyst_db_path
    con = ctx.connect()
    try:
        made_of = [*sorted((settings.sql_dir / "analyst").glob("*.sql")), settings.documentation_file]
        marts = dict(
            con.execute(
                "select artefact, inputs_sha256 from ops.built_from where artefact in (?, ?)",
                [transform.MARTS, transform.SHAPE],
            ).fetchall()
        )
        own = transform.inputs_digest(con, settings.sql_dir, made_of)
        digest = hashlib.sha256(f"{own}:{marts.get(transform.MARTS, '')}".encode()).hexdigest()
        if target.exists() and not db.changed(con, ANALYST, digest):
            return target
        # the marts' shape (their SQL and the reference tables) decides what their rows of an unchanged
        # respondent are: the free texts are kept in place only while it stays the same
        shape = f"{transform.files_digest(made_of)}:{marts.get(transform.SHAPE, '')}"
        copied = target.exists() and not db.changed(con, SHAPE, shape) and _write(con, settings, target, True)
        if not copied:
            _write(con, settings, target, False)
        db.built(con, ANALYST, digest)
        db.built(con, SHAPE, shape)
    finally:
        con.close()
    return target


def _copy_marts(con: duckdb.DuckDBPyConnection, settings: Settings, keep: bool) -> None:
    """The marts into the attached file: each table whole, but for the free texts of a copied file (of the same
    shape, the marts' included), which are brought up to date in place."""
    con.execute("create schema if not exists analyst.marts")
    names = [
        name
        for (name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'marts'"
        ).fetchall()
    ]
    for name in names:
        if keep and name == FREE_TEXTS:
            db.run(con, settings.sql_dir, "analyst/045_free_texts")
        else:
            con.execute(f'create or replace table analyst.marts."{name}" as select * from marts."{name}"')


def _write(con: duckdb.DuckDBPyConnection, settings: Settings, target: Path, from_previous: bool) -> bool:
    """Write the file, from a copy of the previous one or new; False (and nothing written) when the copy holds
    a respondent that core no longer does."""
    tmp = target.with_name(f".{target.name}.new")
    if from_previous:
        shutil.copyfile(target, tmp)
    else:
        db.create_portable(tmp).close()
    con.execute("attach ? as analyst", [str(tmp)])
    try:
        db.run(con, settings.sql_dir, "analyst/010_core")
        [(stale, gone)] = db.run(con, settings.sql_dir, "analyst/020_changes").fetchall()
        if not gone:
            if stale:
                db.run(con, settings.sql_dir, "analyst/030_remove_stale")
            db.run(con, settings.sql_dir, "analyst/040_add_changed")
            _copy_marts(con, settings, keep=from_previous)
    finally:
        con.execute("detach analyst")
    if gone:
        tmp.unlink()
        return False
    # Views and comments are made in the file itself, so they name its tables without a catalog and keep
    # working whatever name a reader attaches the file under.
    own = duckdb.connect(str(tmp))
    try:
        db.run(own, settings.sql_dir, "analyst/050_views")
        document(own, settings.documentation_file)
        own.execute("checkpoint")
    finally:
        own.close()
    os.replace(tmp, target)
    return True
