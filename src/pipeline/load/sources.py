"""A partner's sources (a LimeSurvey survey, an ODK form, a Kobo asset, a drop folder): what each stored response
and cursor belongs to, and how the respondent keys of a source are made."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline import db
from pipeline.errors import ConfigError
from pipeline.settings import Settings


@dataclass(frozen=True)
class Source:
    """One source of one partner. key_scope goes between partner and response id in the respondent key: '' for
    the partner's first source (HMAC(partner ':' id), the key of before sources were kept), 'source:' for
    every later one, so that the same id in two surveys is two respondents."""

    partner_id: str
    name: str
    key_scope: str

    def respondent_key(self, con: duckdb.DuckDBPyConnection, pads: tuple[bytes, bytes], source_id: str) -> str:
        """The respondent key of one of the source's responses, as loading makes it (ops.respondent_key)."""
        row = con.execute(
            "select ops.respondent_key(?, ?, ?, ?, ?)", [*pads, self.partner_id, self.key_scope, source_id]
        ).fetchone()
        return row[0]  # type: ignore[index]


def respondent_pads(settings: Settings) -> tuple[bytes, bytes]:
    """HMAC's inner and outer pads (RFC 2104) of the secret that pseudonymises respondents: SQL makes the keys
    with two sha256 calls (ops.respondent_key) and the secret itself is in no statement."""
    value = os.environ.get(settings.respondent_key_env)
    if not value:
        raise ConfigError(
            f"environment variable {settings.respondent_key_env} is not set: it holds the key that pseudonymises "
            "respondents (keep it secret and never change it, or every respondent gets a new key)"
        )
    key = value.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def volatile_patch(fields: tuple[str, ...]) -> str:
    """A JSON merge patch removing what a connector's volatile_fields name: a response's version is compared
    without them (a review state set in ODK Central is no new version)."""
    return json.dumps(dict.fromkeys(fields))


def claim(
    con: duckdb.DuckDBPyConnection, sql_dir: Path, partner_id: str, source: str, volatile_fields: tuple[str, ...] = ()
) -> Source:
    """Make the partner's configured source known before anything of the partner is read or written: the first
    source met also claims the rows and the cursor stored before sources were kept, whose version hashes are
    then taken without the connector's volatile_fields, as the loader takes them now. A source met before has
    nothing left to claim: it is only looked up."""
    if source in _keyed(con, partner_id):
        return known(con, partner_id, source)
    with db.transaction(con):
        con.execute(
            "create or replace temp table claimed_source as select ?::varchar as partner_id, ?::varchar as source, "
            "?::timestamptz as seen_at, ?::json as volatile",
            [partner_id, source, datetime.now(UTC), volatile_patch(volatile_fields)],
        )
        db.run(con, sql_dir, "ops/claim_source")
        con.execute("drop table claimed_source")
    return known(con, partner_id, source)


def known(con: duckdb.DuckDBPyConnection, partner_id: str, source: str) -> Source:
    """A source the pipeline has met for the partner; an error naming the known ones otherwise."""
    keyed = _keyed(con, partner_id)
    if source not in keyed:
        raise ConfigError(
            f"partner {partner_id}: nothing was ever pulled from source {source!r} "
            f"(known: {', '.join(sorted(keyed)) or 'none'})"
        )
    return Source(partner_id, source, f"{source}:" if keyed[source] else "")


def _keyed(con: duckdb.DuckDBPyConnection, partner_id: str) -> dict[str, bool]:
    """The partner's known sources, each with whether its respondent keys include it."""
    rows = con.execute("select source, keyed_with_source from ops.sources where partner_id = ?", [partner_id])
    return dict(rows.fetchall())
