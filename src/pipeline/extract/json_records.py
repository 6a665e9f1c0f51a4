"""Turn a JSON page into the shared record columns inside DuckDB, removing direct identifiers on the way.

The whole page is handled by one SQL statement (no Python loop over responses): DuckDB parses the JSON,
splits the response array, drops identifier keys with a JSON merge patch (null removes a key, RFC 7396) and
hands back Arrow columns. Only a page DuckDB refuses because some of its text is no Unicode (bytes that are no
UTF-8, a lone surrogate such as the escape `\\ud800`) is parsed again record by record (see `salvaged`): the
records holding such text are marked for quarantine, the page's others load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import PayloadError
from pipeline.extract import RECORD_SCHEMA

T = TypeVar("T")
# Added to a record that held text which is no Unicode, in place of that text: the JSON text of {field: the text
# with each surrogate written as an escape \udXXX, bytes that are no UTF-8 as \udc80-\udcff}. It is a string, so
# that connectors flattening groups (ODK) keep it whole; the loader quarantines the record, naming each field.
UNDECODABLE = "@undecodable"
_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_PATH = re.compile(r"^\$\.(\w+)(?:\[\*\]|\.\*)$")

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
    """Records of a JSON page whose responses sit at array_path (e.g. '$.results[*]' or '$.data.*').

    con is an in-memory DuckDB the connector keeps for its pull (opening one per page costs more than parsing).
    """
    drop = frozenset(drop)

    def parse(text: str) -> pa.Table:
        con.execute(
            "create or replace temp table recs as select unnest(json_extract(?::json, ?)) as rec", [text, array_path]
        )
        keys = [k for (k,) in con.execute("select distinct unnest(json_keys(rec)) from recs").fetchall()]
        patch = json.dumps({k: None for k in keys if is_identifier(k, drop)})
        return con.sql(
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

    return parsed(partner_id, "page", body, parse, records_at(array_path), drop).cast(RECORD_SCHEMA)


def parsed(
    partner_id: str,
    what: str,
    body: bytes,
    parse: Callable[[str], T],
    records: Callable[[Any], Iterable[Any]],
    drop: Iterable[str],
) -> T:
    """parse(body as text), DuckDB's one pass over the page. Only if DuckDB refuses the page is it salvaged (see
    `salvaged`: records(document) names its records) and parsed once more; a page that is still refused, or that
    nothing could be salvaged from, is a PayloadError naming `what` was sent."""
    try:
        return parse(body.decode("utf-8"))
    except (duckdb.Error, UnicodeDecodeError) as exc:
        text = salvaged(body, records, drop)
        if text is None:
            raise PayloadError(partner_id, f"{what} is not the JSON expected ({problem(exc)})"[:300]) from exc
    try:
        return parse(text)
    except duckdb.Error as exc:
        raise PayloadError(partner_id, f"{what} is not the JSON expected ({problem(exc)})"[:300]) from exc


def salvaged(body: bytes, records: Callable[[Any], Iterable[Any]], drop: Iterable[str]) -> str | None:
    """The page again as text DuckDB reads, when the only trouble is text inside records that is no Unicode.

    Python's parser keeps what DuckDB refuses (bytes that are no UTF-8 as surrogates \\udc80-\\udcff, lone
    surrogate escapes as they are). In each record (records(document) lists them) such a key or value is taken
    out and kept, written with escapes, under UNDECODABLE, so the record is quarantined with the fields named;
    an identifier's is only taken out. None when the page is no JSON at all or such text lies outside the
    records: the page stays refused."""
    try:
        document = json.loads(body.decode("utf-8", errors="surrogateescape"))
        listed = list(records(document))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    drop = frozenset(drop)
    changed = False
    for record in listed:
        if isinstance(record, dict):
            found = dict(_undecodable(record, ""))
            changed = changed or bool(found)
            kept = {field: text for field, text in found.items() if not is_identifier(field, drop)}
            if kept:
                record[UNDECODABLE] = json.dumps(kept, ensure_ascii=False)
    text = json.dumps(document, ensure_ascii=False)
    return text if changed and not _SURROGATE.search(text) else None


def _undecodable(node: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    """(field path, text with escapes) of every key or value under node that holds a surrogate, each removed
    from node; groups and repeats (objects, lists of objects) are searched too, their paths joined with '/'."""
    for key, value in list(node.items()):
        path = prefix + _escaped(key)
        items = value if isinstance(value, list) else [value]
        groups = [item for item in items if isinstance(item, dict)]
        plain = [item for item in items if not isinstance(item, dict)]
        if _SURROGATE.search(key) or _SURROGATE.search(json.dumps(plain, ensure_ascii=False)):
            del node[key]
            yield path, _escaped(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
            continue
        for group in groups:
            yield from _undecodable(group, path + "/")


def _escaped(text: str) -> str:
    """text with each surrogate written as its escape, so that it can be stored and read back unchanged."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def records_at(array_path: str) -> Callable[[Any], Iterable[Any]]:
    """The records of a parsed page at a JSON path of the form '$.key[*]' (a list) or '$.key.*' (the values of an
    object, or a list's items), as DuckDB reads them."""
    match = _ARRAY_PATH.match(array_path)
    if match is None:
        raise ValueError(f"no records path of the form '$.key[*]' or '$.key.*': {array_path!r}")
    key = match.group(1)

    def records(document: Any) -> Iterable[Any]:
        listed = document[key]
        return listed.values() if isinstance(listed, dict) else listed

    return records


def problem(exc: duckdb.Error | UnicodeDecodeError) -> str:
    """What is wrong with a page, without its content: DuckDB quotes the start of a malformed input after
    'Input:' (names, e-mail addresses), and an error reaches ops.runs, the logs and the run report."""
    said = str(exc).split("\n", 1)[0].split("Input:", 1)[0].strip()
    return f"{type(exc).__name__}: {said}"


def key_path(key: str) -> str:
    """A JSON path naming one top-level key, also when the key holds '/' as Kobo group paths do."""
    return '$."' + key + '"'


def scratch() -> duckdb.DuckDBPyConnection:
    """A connection of its own to the process's one in-memory DuckDB, for parsing pages: opening a database
    costs 10 to 20 ms (as much as a night's pull of a partner with nothing new), a connection to an open one
    under 1 ms. Temporary tables stay the connection's own; the caller closes it."""
    return _scratch_database().cursor()


@lru_cache(maxsize=1)
def _scratch_database() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def unreachable_keys(keys: Iterable[str]) -> list[str]:
    """The keys that key_path cannot name in DuckDB (a '"' ends the key early, a trailing backslash escapes its
    closing quote): each is tried on an object holding it, so whatever DuckDB's path syntax refuses is found."""
    con = scratch()
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
