"""Turn a JSON page into the shared record columns inside DuckDB, removing direct identifiers on the way.

The whole page is handled by one SQL statement (no Python loop over responses): DuckDB parses the JSON,
splits the response array, drops identifier keys with a JSON merge patch (null removes a key, RFC 7396) and
hands back Arrow columns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import PayloadError
from pipeline.extract import RECORD_SCHEMA

# Keys that name or reach a person, whatever the tool; matched on the last segment of a group path.
DIRECT_IDENTIFIERS = frozenset(
    {
        "name", "full_name", "vorname", "nachname", "first_name", "last_name",
        "email", "e_mail", "e-mail", "mail", "phone", "telefon", "phonenumber", "mobile",
        "token", "ipaddr", "ip", "ip_address", "deviceid", "imei", "simserial", "subscriberid",
        "username", "_submitted_by", "submitterid", "submittername", "_geolocation", "_attachments",
        # a form's instance name is built from its answers, typically the respondent's or the client's name
        "instancename",
    }
)  # fmt: skip


def is_identifier(key: str, extra: Iterable[str]) -> bool:
    last = key.rsplit("/", 1)[-1].lower()
    return last in DIRECT_IDENTIFIERS or key in extra


def without_nested_identifiers(records: pa.ChunkedArray, extra: Iterable[str]) -> pa.ChunkedArray:
    """Records (JSON text) with identifier keys removed at any depth, for every connector.

    Connectors remove top-level keys as they parse a page; repeat groups (Kobo's arrays of objects with
    full-path keys such as `demo/hobbies_list/name`) nest them deeper. One vectorised search finds the records
    that still hold such a key anywhere; only those are parsed and written again.
    """
    extra = frozenset(extra)
    suspect = pc.match_substring_regex(records, _identifier_key_regex(extra)).fill_null(False)
    if not pc.any(suspect).as_py():
        return records

    def kept(pairs: list[tuple[str, object]]) -> dict[str, object]:
        return {key: value for key, value in pairs if not is_identifier(key, extra)}

    texts = records.to_pylist()
    for i in pc.indices_nonzero(suspect).to_pylist():
        texts[i] = json.dumps(json.loads(texts[i], object_pairs_hook=kept), separators=(",", ":"))
    return pa.chunked_array([pa.array(texts, pa.string())])


def _identifier_key_regex(extra: frozenset[str]) -> str:
    """An object key (a JSON string followed by ':') that is_identifier would match; it may match more, never
    less, since the records it finds are checked key by key."""
    names = "|".join(_literal(name) for name in sorted(DIRECT_IDENTIFIERS | extra))
    return rf'(?i)"(?:(?:[^"\\]|\\.)*/)?(?:{names})"\s*:'


def _literal(text: str) -> str:
    """text as a literal in an RE2 pattern (pyarrow's regex engine): anything but a letter, digit, '_' or '/'
    written as a code point, so that no partner's key can change the pattern."""
    return "".join(c if c.isalnum() or c in "_/" else f"\\x{{{ord(c):x}}}" for c in text)


def page_records(
    con: duckdb.DuckDBPyConnection,
    partner_id: str,
    body: bytes,
    array_path: str,
    id_key: str,
    time_key: str,
    drop: Iterable[str],
) -> pa.Table:
    """Records of a JSON page whose responses sit at array_path (e.g. '$.results[*]').

    con is an in-memory DuckDB the connector keeps for its pull (opening one per page costs more than parsing).
    """
    drop = frozenset(drop)
    try:
        con.execute(
            "create or replace temp table recs as select unnest(json_extract(?::json, ?)) as rec",
            [body.decode("utf-8"), array_path],
        )
        keys = [k for (k,) in con.execute("select distinct unnest(json_keys(rec)) from recs").fetchall()]
        patch = json.dumps({k: None for k in keys if is_identifier(k, drop)})
        table = con.sql(
            """
            select
                row_number() over ()::bigint as ordinal,
                json_extract_string(rec, ?) as source_id,
                json_extract_string(rec, ?) as submitted_at,
                json_merge_patch(rec, ?::json)::varchar as record
            from recs
            """,
            params=[key_path(id_key), key_path(time_key), patch],
        ).to_arrow_table()
    except (duckdb.Error, UnicodeDecodeError) as exc:
        raise PayloadError(partner_id, f"page is not the JSON expected ({problem(exc)})") from exc
    return table.cast(RECORD_SCHEMA)


def problem(exc: duckdb.Error | UnicodeDecodeError) -> str:
    """What is wrong with a page, without its content: DuckDB quotes the start of a malformed input after
    'Input:' (names, e-mail addresses), and an error reaches ops.runs, the logs and the run report."""
    said = str(exc).split("\n", 1)[0].split("Input:", 1)[0].strip()
    return f"{type(exc).__name__}: {said}"


def key_path(key: str) -> str:
    """A JSON path naming one top-level key, also when the key holds '/' as Kobo group paths do."""
    return '$."' + key + '"'


def unreachable_keys(keys: Iterable[str]) -> list[str]:
    """The keys that key_path cannot name in DuckDB (a '"' ends the key early, a trailing backslash escapes its
    closing quote): each is tried on an object holding it, so whatever DuckDB's path syntax refuses is found."""
    con = duckdb.connect()
    try:
        return [key for key in keys if not _reaches(con, key)]
    finally:
        con.close()


def _reaches(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    try:
        found = con.execute("select json_extract_string(json_object(?, 'x'), ?)", [key, key_path(key)]).fetchone()
    except duckdb.Error:
        return False
    return found == ("x",)
