"""A partner's sources (a LimeSurvey survey, an ODK form, a Kobo asset, a drop folder): what each stored response
and cursor belongs to, and how the respondent keys of a source are made."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline import db
from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Source:
    """One source of one partner. key_scope goes between partner and response id in the respondent key: '' for
    the partner's first source (HMAC(partner ':' id), the key of before sources were kept), 'source:' for
    every later one, so that the same id in two surveys is two respondents."""

    partner_id: str
    name: str
    key_scope: str

    def key_input(self, source_id: str) -> str:
        """What the respondent key is the HMAC of (as staging/insert_responses computes it in SQL)."""
        return f"{self.partner_id}:{self.key_scope}{source_id}"


def volatile_patch(fields: tuple[str, ...]) -> str:
    """A JSON merge patch removing what a connector's volatile_fields name: a response's version is compared
    without them (a review state set in ODK Central is no new version)."""
    return json.dumps(dict.fromkeys(fields))


def claim(
    con: duckdb.DuckDBPyConnection, sql_dir: Path, partner_id: str, source: str, volatile_fields: tuple[str, ...] = ()
) -> Source:
    """Make the partner's configured source known before anything of the partner is read or written: the first
    source met also claims the rows and the cursor stored before sources were kept, whose version hashes are
    then taken without the connector's volatile_fields, as the loader takes them now."""
    with db.transaction(con):
        con.execute(
            "create or replace temp table claimed_source as select ?::varchar as partner_id, ?::varchar as source, "
            "?::timestamptz as seen_at, ?::json as volatile",
            [partner_id, source, datetime.now(UTC), volatile_patch(volatile_fields)],
        )
        con.execute(db.sql(sql_dir, "ops/claim_source"))
        con.execute("drop table claimed_source")
    return known(con, partner_id, source)


def known(con: duckdb.DuckDBPyConnection, partner_id: str, source: str) -> Source:
    """A source the pipeline has met for the partner; an error naming the known ones otherwise."""
    keyed = dict(
        con.execute("select source, keyed_with_source from ops.sources where partner_id = ?", [partner_id]).fetchall()
    )
    if source not in keyed:
        raise ConfigError(
            f"partner {partner_id}: nothing was ever pulled from source {source!r} "
            f"(known: {', '.join(sorted(keyed)) or 'none'})"
        )
    return Source(partner_id, source, f"{source}:" if keyed[source] else "")
