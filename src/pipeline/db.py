"""The working DuckDB file: connections, the migration runner, and SQL files run by name."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import duckdb

from pipeline.errors import ConfigError, SqlInputMissing, WorkingFileBusy

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


def connect(path: Path, sql_dir: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """Open the working file and bring its schema up to date before anyone writes to it; memory_limit bounds
    DuckDB's buffer pool (settings.duckdb_memory_limit)."""
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


def changed(con: duckdb.DuckDBPyConnection, artefact: str, digest: str) -> bool:
    """Whether what `artefact` is made of changed since it was last built (ops.built_from): a run with
    nothing new skips rebuilding it."""
    rows = con.execute("select inputs_sha256 from ops.built_from where artefact = ?", [artefact]).fetchall()
    return rows != [(digest,)]


def built(con: duckdb.DuckDBPyConnection, artefact: str, digest: str) -> None:
    con.execute("insert or replace into ops.built_from values (?, ?, ?)", [artefact, digest, datetime.now(UTC)])


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


def compact(path: Path, sql_dir: Path, memory_limit: str) -> None:
    """Rewrite the working file through a copy, so that no freed block keeps rows deleted from it: DuckDB
    reuses freed blocks but never wipes them. Needs the writer lock and as much free disk as the file."""
    fresh = path.with_name(f".{path.name}.compact")
    fresh.unlink(missing_ok=True)
    con = connect(path, sql_dir, memory_limit)
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


@dataclass(frozen=True)
class Header:
    """What a SQL file declares in its first lines: the relations it reads, each with who provides it ('' for a
    table or view of the migrations), and the relations it writes."""

    reads: dict[str, str]
    writes: tuple[str, ...]


_T = TypeVar("_T")
_HEADER_LINE = re.compile(r"--\s*(reads|writes):\s*(.*)")
_DECLARED = re.compile(r"\s*([\w.]+)\s*(?:\(([^)]*)\))?\s*(?:,|$)")


def header(text: str, name: str = "a SQL file") -> Header:
    """The header of a SQL file's text, in the one format every file under sql/ but the migrations starts with:

        -- reads: raw.records, batch_records (registered by pipeline.load.loader)
        -- writes: batch_classified

    A long list goes on in comment lines indented by more than one space; "nothing" declares an empty list.
    A file without both lines is an error, naming the file (`name`); tests/test_sql_contracts.py holds every file
    under sql/ to the format."""
    found: dict[str, str] = {}
    kind = ""
    for line in text.splitlines():
        start = _HEADER_LINE.match(line)
        if start:
            kind = start.group(1)
            found[kind] = start.group(2)
        elif kind and line.startswith("--  "):
            found[kind] += " " + line[2:].strip()
        else:
            break
    if set(found) != {"reads", "writes"}:
        raise ConfigError(f"{name} does not start with its header ('-- reads: ...' and '-- writes: ...')")
    declared = {
        kind: {m.group(1): (m.group(2) or "").strip() for m in _DECLARED.finditer(names) if m.group(1)}
        for kind, names in found.items()
    }
    for names in declared.values():
        names.pop("nothing", None)
    return Header(reads=declared["reads"], writes=tuple(declared["writes"]))


def checking() -> bool:
    """Whether run() checks a file's declared inputs before it runs it: when PIPELINE_SQL_CHECKS is 1, as the
    test suite sets it. A catalog query per statement costs about a millisecond, some twenty per batch loaded,
    which a nightly run need not pay: an input missing there still fails in DuckDB's binder, and run() tells
    that catalog error as the same SqlInputMissing. What the check adds is a declared input the statement would
    not have missed (a header that lies), which the tests are there to find."""
    return os.environ.get("PIPELINE_SQL_CHECKS") == "1"


def missing_inputs(con: duckdb.DuckDBPyConnection, reads: dict[str, str]) -> list[str]:
    """The declared inputs the connection lacks: tables and views of the current database or any attached one,
    temporary tables, and Python frames registered on it (they show as temporary views)."""
    present = set()
    for database, schema, name, temporary, current in con.execute(
        "select database_name, schema_name, table_name, temporary, current_database() from duckdb_tables() "
        "union all select database_name, schema_name, view_name, temporary, current_database() from duckdb_views() "
        "where not internal"
    ).fetchall():
        present.add(f"{database}.{schema}.{name}")
        if temporary or database == current:
            present |= {f"{schema}.{name}"} | ({name} if schema == "main" else set())
    return [name for name in reads if name.lower() not in present]


def run(
    con: duckdb.DuckDBPyConnection, sql_dir: Path, name: str, params: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Run sql/<name>.sql; returns the connection, so a query's rows are fetched from it.

    An input the file declares that is not there raises SqlInputMissing naming the file, the relation and its
    provider: checked beforehand when PIPELINE_SQL_CHECKS is on, else told from DuckDB's own catalog error."""
    return _checked(con, sql_dir, name, lambda text: con.execute(text, params or {}))


def relation(con: duckdb.DuckDBPyConnection, sql_dir: Path, name: str) -> duckdb.DuckDBPyRelation:
    """The query of sql/<name>.sql as a relation, checked as run() checks it: Arrow output without the copy a
    DB-API result makes."""
    return _checked(con, sql_dir, name, con.sql)


def _checked(con: duckdb.DuckDBPyConnection, sql_dir: Path, name: str, execute: Callable[[str], _T]) -> _T:
    declared = _header(sql_dir, name)
    if checking():
        missing = missing_inputs(con, declared.reads)
        if missing:
            raise _missing(name, declared, missing)
    try:
        return execute(sql(sql_dir, name))
    except duckdb.CatalogException as exc:
        said = str(exc).lower()
        missing = [r for r in declared.reads if f"with name {r.rsplit('.', 1)[-1].lower()} " in said]
        if missing:
            raise _missing(name, declared, missing) from exc
        raise


@lru_cache(maxsize=64)
def _header(sql_dir: Path, name: str) -> Header:
    return header(sql(sql_dir, name), f"sql/{name}.sql")


def _missing(name: str, declared: Header, missing: list[str]) -> SqlInputMissing:
    told = "; ".join(f"{r} ({declared.reads[r] or 'a table of the migrations'})" for r in missing)
    return SqlInputMissing(f"sql/{name}.sql reads what this connection lacks: {told}")
