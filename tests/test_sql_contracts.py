"""Every SQL file under sql/ (migrations aside) states what it reads and writes, and says it truly."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from pipeline import db
from pipeline.errors import SqlInputMissing

PROJECT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT / "sql"
FILES = sorted(p.relative_to(SQL_DIR).with_suffix("").as_posix() for p in SQL_DIR.glob("*/*.sql"))
FILES = [name for name in FILES if not name.startswith("migrations/")]

_NAME = r"[a-z_]\w*(?:\.[a-z_]\w*){0,2}"
_CREATE = (
    rf"\bcreate\s+(?:or\s+replace\s+)?(?:temp\s+|temporary\s+)?(?:table|view)\s+(?:if\s+not\s+exists\s+)?({_NAME})"
)
_SCHEMAS = {"raw", "staging", "core", "marts", "ops"}
# what may follow a relation in a FROM list without being its alias
_CLAUSES = {
    "where", "group", "order", "join", "left", "right", "inner", "full", "cross", "on", "union", "qualify", "limit",
    "using", "set", "having", "window", "natural", "positional", "as", "select", "returning",
}  # fmt: skip


def _bare(text: str) -> str:
    """The SQL with comments and string literals blanked, lower-cased."""
    return re.sub(r"'(?:[^']|'')*'|--[^\n]*", lambda m: "''" if m.group().startswith("'") else "", text).lower()


def _skip_parens(text: str, at: int) -> int:
    depth = 0
    for i in range(at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i + 1
    return len(text)


def _from_list(text: str, at: int) -> list[str]:
    """The relations of the FROM list starting at `at`: subqueries and table functions are skipped (their own
    FROMs are found apart), aliases and column aliases too; a table macro of the project's schemas reads the
    relations it is given by name."""
    found = []
    while True:
        at = len(text) - len(text[at:].lstrip())
        name = re.match(_NAME, text[at:])
        if text[at : at + 1] == "(":
            at = _skip_parens(text, at)
        elif name:
            at += name.end()
            if text[at:].lstrip().startswith("("):
                opened = at + text[at:].index("(")
                at = _skip_parens(text, opened)
                if name.group().split(".")[0] in _SCHEMAS:
                    arguments = (a.strip() for a in text[opened + 1 : at - 1].split(","))
                    found += [a for a in arguments if re.fullmatch(_NAME, a)]
            else:
                found.append(name.group())
        else:
            return found
        alias = re.match(r"\s+(?:as\s+)?([a-z_]\w*)", text[at:])
        if alias and alias.group(1) not in _CLAUSES:
            at += alias.end()
            if text[at:].lstrip().startswith("("):
                at = _skip_parens(text, at + text[at:].index("("))
        comma = re.match(r"\s*,", text[at:])
        if not comma:
            return found
        at += comma.end()


def relations(text: str) -> tuple[set[str], set[str]]:
    """(reads, writes) the SQL text names. Writes: what it creates, drops, inserts into, updates or deletes
    from. Reads: every other relation in a FROM, JOIN or USING, less the file's CTEs and what it creates itself."""
    bare = _bare(text)
    writes = set(
        re.findall(_CREATE, bare)
        + re.findall(rf"\bdrop\s+(?:table|view)\s+(?:if\s+exists\s+)?({_NAME})", bare)
        + re.findall(rf"\binsert\s+(?:or\s+\w+\s+)?into\s+({_NAME})", bare)
        + re.findall(rf"\bdelete\s+from\s+({_NAME})", bare)
        + [name for name in re.findall(rf"(?<!do )\bupdate\s+({_NAME})", bare) if name != "set"]
    )
    created = set(re.findall(_CREATE, bare))
    ctes = set(
        re.findall(rf"(?:\bwith\s+(?:recursive\s+)?|\)\s*,\s*)({_NAME})\s+as\s+(?:not\s+)?(?:materialized\s+)?\(", bare)
    )
    reads: set[str] = set()
    for clause in re.finditer(r"(?<!distinct )(?<!delete )\b(from|join|using)\s+", bare):
        listed = _from_list(bare, clause.end())
        reads |= set(listed if clause.group(1) == "from" else listed[:1])
    return reads - ctes - created, writes


def _header(name: str) -> db.Header:
    return db.header((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"), name)


@pytest.mark.parametrize("name", FILES)
def test_sql_file_starts_with_its_header(name: str) -> None:
    text = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    assert text.startswith("-- reads: "), text.splitlines()[0]
    _header(name)


@pytest.mark.parametrize("name", FILES)
def test_header_names_exactly_the_relations_the_sql_names(name: str) -> None:
    reads, writes = relations((SQL_DIR / f"{name}.sql").read_text(encoding="utf-8"))
    declared = _header(name)
    assert set(declared.reads) == reads, "reads"
    assert set(declared.writes) == writes, "writes"


@pytest.mark.parametrize("name", FILES)
def test_every_provider_named_exists_and_provides(name: str) -> None:
    """A relation outside the schema's tables names its provider: a module of the package, or a SQL file that
    writes it. Tables of the migrations (schema-qualified) need none."""
    for relation, provider in _header(name).reads.items():
        if "." not in relation:
            assert provider, f"{relation}: who provides it?"
        for module in re.findall(r"\bpipeline(?:\.\w+)+", provider):
            path = PROJECT / "src" / Path(*module.split("."))
            assert path.with_suffix(".py").exists() or path.is_dir(), module
        for other in re.findall(r"\b[a-z]+/\w+", provider):
            written = _header(other).writes
            assert any(w == relation or w.endswith(f".{relation}") for w in written), f"{other} writes {relation}?"


def test_relations_found_ignore_ctes_comments_and_functions() -> None:
    text = """-- reads: from commented.out
with picked as (select * from a.b as x, c, json_each(x.j) as f where x.v is not distinct from c.v)
insert into t select * from picked join d using (k) left join (select 1 from e) as s on true
    join marts.with_margin(picked) on true join marts.scoped(core.g) on true;
update u set v = 1 from w; delete from z using y where 'from q' <> ''
"""
    assert relations(text) == ({"a.b", "c", "core.g", "d", "e", "w", "y"}, {"t", "u", "z"})


def test_a_missing_input_names_the_file_and_its_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the checks on (as this suite runs), the declared input is missed before the statement runs; with
    them off, DuckDB's own catalog error is told the same way."""
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "probe.sql").write_text(
        "-- reads: batch_records (registered by pipeline.load.loader)\n"
        "-- writes: nothing\n"
        "select count(*) from batch_records\n"
    )
    con = duckdb.connect()
    for flag in ("1", "0"):
        monkeypatch.setenv("PIPELINE_SQL_CHECKS", flag)
        with pytest.raises(
            SqlInputMissing, match=r"sql/raw/probe\.sql .* batch_records \(registered by pipeline\.load\.loader\)"
        ):
            db.run(con, tmp_path, "raw/probe")
    con.register("batch_records", duckdb.sql("select 1 as x").to_arrow_table())
    assert db.run(con, tmp_path, "raw/probe").fetchall() == [(1,)]


def test_the_suite_runs_with_the_checks_on() -> None:
    assert db.checking()
