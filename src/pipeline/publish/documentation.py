"""`COMMENT ON` every table, view and column of a published DuckDB file, from schemas/documentation.yaml.

A column means the same wherever it appears (`wave` is always the survey wave), so the file documents columns
by name, with `table.column` for the few that differ. An undocumented table or column is an error: the
analysts' and the steering group's files document themselves through `duckdb_tables()` and `duckdb_columns()`,
and a gap there would be silent.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.errors import ConfigError
from pipeline.yaml_io import read_yaml


def document(con: duckdb.DuckDBPyConnection, source: Path) -> None:
    """Comment every table, view and column of the connection's own database."""
    docs = read_yaml(source)
    tables, columns = docs["tables"], docs["columns"]
    relations = con.execute(
        """
        select schema_name, table_name, 'table' from duckdb_tables() where database_name = current_database()
        union all
        select schema_name, view_name, 'view' from duckdb_views()
        where database_name = current_database() and not internal
        """
    ).fetchall()
    missing: list[str] = []
    for schema, name, kind in relations:
        comment = tables.get(f"{schema}.{name}", tables.get(name))
        if comment is None:
            missing.append(f"{schema}.{name}")
            continue
        con.execute(f"comment on {kind} {_quote(schema)}.{_quote(name)} is {_literal(comment)}")
        for (column,) in con.execute(
            "select column_name from duckdb_columns() where database_name = current_database() "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, name],
        ).fetchall():
            text = columns.get(f"{name}.{column}", columns.get(column))
            if text is None:
                missing.append(f"{schema}.{name}.{column}")
                continue
            con.execute(f"comment on column {_quote(schema)}.{_quote(name)}.{_quote(column)} is {_literal(text)}")
    if missing:
        raise ConfigError(f"{source}: no description for {', '.join(missing)}; add them to the documentation file")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
