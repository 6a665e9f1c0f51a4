"""Rebuild the marts from core by running sql/marts/*.sql in name order, in one transaction, for the waves whose
responses changed since the last build (the other waves' rows are kept); skipped when nothing they are made of
changed (a nightly run with nothing new costs no rebuild). A changed wave is built from its rows of the last build
plus the answers changed since (ops.answers_since_marts, which the loader keeps while marts exist), so a night's
1 % new costs in proportion to that 1 %; it is built whole from core when it was not built before, an erasure
touched it, or the log does not account for every answer added or removed since. Every wave is built whole when
the SQL or a reference table (items, labels, waves, partners) changed, or a mart is missing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from pipeline import db
from pipeline.context import Context

MARTS = "marts"
SHAPE = "marts_shape"
WAVE = "marts wave "
ANSWERS = "marts answers"
_WAVE_PART = "wave:"


@dataclass(frozen=True)
class MartsBuild:
    """The waves a build made again (none: the marts were current) and those of them built whole from core; the
    others were built from their rows of the last build and the answers changed since."""

    waves: list[str]
    whole: list[str]

    def __str__(self) -> str:
        if not self.waves:
            return "marts current"
        how = []
        if self.whole:
            how.append(f"{', '.join(self.whole)} whole")
        if by_changes := [wave for wave in self.waves if wave not in self.whole]:
            how.append(f"{', '.join(by_changes)} from the answers changed since the last build")
        return f"marts rebuilt for {', '.join(self.waves)} ({'; '.join(how)})"


def build_marts(ctx: Context) -> MartsBuild:
    """Rebuild the marts where their inputs changed."""
    settings = ctx.settings
    names = sorted(p.stem for p in (settings.sql_dir / "marts").glob("*.sql"))
    files = [settings.sql_dir / "marts" / f"{n}.sql" for n in names]
    con = ctx.connect()
    try:
        parts = _inputs(con, settings.sql_dir)
        digest = _digest(parts, files)
        if not db.changed(con, MARTS, digest):
            return MartsBuild([], [])
        waves = {part.removeprefix(_WAVE_PART): d for part, d in parts.items() if part.startswith(_WAVE_PART)}
        shape = _digest({p: d for p, d in parts.items() if not p.startswith(_WAVE_PART) and p != "answers"}, files)
        with db.transaction(con):
            rebuilt = _waves_to_build(con, settings.sql_dir, names, waves, shape)
            logged = _logged(con, parts)
            whole = [wave for wave, from_last in rebuilt.items() if not (from_last and logged)]
            con.execute(
                "create or replace temp table marts_waves as select wave, wave in (select unnest(?::varchar[])) "
                "as whole from (select unnest(?::varchar[]) as wave)",
                [whole, list(rebuilt)],
            )
            for name in names:
                db.run(con, settings.sql_dir, f"marts/{name}")
            con.execute("delete from ops.answers_since_marts")
            con.execute("delete from ops.built_from where starts_with(artefact, ?)", [WAVE])
            for wave, wave_digest in waves.items():
                db.built(con, WAVE + wave, wave_digest)
            db.built(con, ANSWERS, parts["answers"])
            db.built(con, SHAPE, shape)
            db.built(con, MARTS, digest)
    finally:
        con.close()
    return MartsBuild(sorted(rebuilt), sorted(whole))


def _waves_to_build(
    con: duckdb.DuckDBPyConnection, sql_dir: Path, names: list[str], waves: dict[str, str], shape: str
) -> dict[str, bool]:
    """The waves whose responses changed, and those gone, each with whether its rows of the last build may be
    kept (it was built then); every wave, none kept (the marts dropped first, so that none keeps a column its SQL
    no longer makes), when the shape changed or a mart is missing."""
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
        changed = {w for w, d in waves.items() if built.get(w) != d} | (built.keys() - waves.keys())
        return {wave: wave in built for wave in changed}
    for (table,) in con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'marts'"
    ).fetchall():
        con.execute(f'drop table marts."{table}"')
    return dict.fromkeys(waves, False)


def _logged(con: duckdb.DuckDBPyConnection, parts: dict[str, str]) -> bool:
    """Whether the log of answers since the last build accounts for every answer added or removed since: the
    answers then, plus the log's signs, are the answers now. A load while no marts existed, a rebuild or an
    erasure leaves it short, and the waves are built whole."""
    [(then, change)] = con.execute(
        "select (select any_value(inputs_sha256) from ops.built_from where artefact = ?), "
        "(select coalesce(sum(sign), 0) from ops.answers_since_marts)",
        [ANSWERS],
    ).fetchall()
    return then is not None and int(then) + change == int(parts["answers"])


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
