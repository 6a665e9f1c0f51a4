"""The working DuckDB file: connections, the migration runner, and SQL files run by name."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path

import duckdb

from pipeline.errors import ConfigError, WorkingFileBusy

_LEDGER = """
create schema if not exists ops;
create table if not exists ops.migrations (
    version integer primary key,
    name varchar not null,
    sha256 varchar not null,
    applied_at timestamptz not null default current_timestamp
);
"""


# The storage format of the files others open (the analyst file, a release's DuckDB): DuckDB 1.0 and later read
# it, so analysts' tools that bundle DuckDB 1.x open them; DuckDB 2's own format is unreadable for 1.x.
PORTABLE_STORAGE_VERSION = "v1.0.0"


def connect(path: Path, sql_dir: Path, memory_limit: str = "2GB") -> duckdb.DuckDBPyConnection:
    """Open the working file and bring its schema up to date before anyone writes to it.

    DuckDB's buffer pool would otherwise grow towards 80% of the machine's memory as the file grows; a
    nightly job shares the machine, so it gets a bound (DuckDB spills to disk beyond it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), config={"memory_limit": memory_limit})
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        said = str(exc).split("\n", 1)[0]
        raise WorkingFileBusy(
            f"the working file {path} is open in another process, which DuckDB does not share ({said}). "
            f"Close it there; analysts read {path.with_name('analyst.duckdb')}, which a run never locks"
        ) from exc
    con.execute("set time zone 'UTC'")
    migrate(con, sql_dir / "migrations")
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back on any error, so the file keeps all of it
    or none."""
    con.begin()
    try:
        yield con
        con.commit()
    except BaseException:
        con.rollback()
        raise


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **tables: object) -> Iterator[duckdb.DuckDBPyConnection]:
    """Python tables visible to SQL by name for the block. When the block fails inside a transaction, DuckDB
    refuses every further call until the rollback, unregistering too: the block's own error is the one raised,
    not a TransactionException that would hide it."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield con
    except BaseException:
        for name in tables:
            with suppress(duckdb.Error):
                con.unregister(name)
        raise
    for name in tables:
        con.unregister(name)


def migrate(con: duckdb.DuckDBPyConnection, migrations: Path) -> list[str]:
    """Apply numbered migrations not applied yet, each in its own transaction, and record them.

    A migration that was changed after it was applied is an error: the file's history would no longer
    describe the database.
    """
    con.execute(_LEDGER)
    applied = dict(con.execute("select version, sha256 from ops.migrations").fetchall())
    done = []
    for path in sorted(migrations.glob("[0-9][0-9][0-9]_*.sql")):
        version, text = int(path.name[:3]), path.read_text(encoding="utf-8")
        digest = hashlib.sha256(text.encode()).hexdigest()
        if version in applied:
            if applied[version] != digest:
                raise ConfigError(f"migration {path.name} changed after it was applied; add a new one instead")
            continue
        with transaction(con):
            con.execute(text)
            con.execute(
                "insert into ops.migrations (version, name, sha256) values (?, ?, ?)",
                [version, path.name, digest],
            )
        done.append(path.name)
    return done


def compact(path: Path, sql_dir: Path) -> None:
    """Rewrite the working file through a copy, so that no freed block keeps rows deleted from it: DuckDB
    reuses freed blocks but never wipes them. Needs the writer lock and as much free disk as the file."""
    fresh = path.with_name(f".{path.name}.compact")
    fresh.unlink(missing_ok=True)
    con = connect(path, sql_dir)
    try:
        [(name,)] = con.execute("select current_database()").fetchall()
        con.execute("attach ? as compacted", [str(fresh)])
        con.execute(f'copy from database "{name}" to compacted')
        con.execute("detach compacted")
    finally:
        con.close()
    os.replace(fresh, path)


def create_portable(path: Path) -> duckdb.DuckDBPyConnection:
    """A new, empty DuckDB file in the portable storage format, open for writing (it keeps its format)."""
    path.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"attach ? as portable (storage_version '{PORTABLE_STORAGE_VERSION}')", [str(path)])
        con.execute("detach portable")
    finally:
        con.close()
    return duckdb.connect(str(path))


@lru_cache(maxsize=64)
def sql(sql_dir: Path, name: str) -> str:
    """The text of sql/<name>.sql, e.g. sql(d, 'core/upsert_responses')."""
    return (sql_dir / f"{name}.sql").read_text(encoding="utf-8")


def run(con: duckdb.DuckDBPyConnection, sql_dir: Path, name: str, params: dict | None = None) -> None:
    con.execute(sql(sql_dir, name), params or {})
