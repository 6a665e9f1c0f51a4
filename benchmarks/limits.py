"""The limits the pipeline's ingest is compared with (`./dev bench --compare`), on the same Kobo pages it pulls.

    python benchmarks/limits.py BASE_URL UID=TOKEN [UID=TOKEN ...]

Run in a process of its own (as the pipeline is), it fetches every asset's submissions page by page (1,000 a
page, as the pipeline asks) and prints one JSON line:

- fetch_s: the HTTP requests and bodies alone;
- decode_s: Python's json.loads of every body (fetch + decode: the HTTP fetch limit);
- duckdb_s: DuckDB's read_json of the bodies into a typed table, one row per submission (fetch + this: the
  DuckDB limit).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

LIMIT = 1000


def _bodies(session: requests.Session, base_url: str, uid: str, token: str) -> list[bytes]:
    url = f"{base_url.rstrip('/')}/api/v2/assets/{uid}/data/"
    headers = {"Authorization": f"Token {token}"}
    first = session.get(url, params={"format": "json", "limit": LIMIT, "start": 0}, headers=headers)
    first.raise_for_status()
    count = int(first.json()["count"])
    bodies = [first.content]
    for start in range(LIMIT, count, LIMIT):
        page = session.get(url, params={"format": "json", "limit": LIMIT, "start": start}, headers=headers)
        page.raise_for_status()
        bodies.append(page.content)
    return bodies


def main() -> None:
    base_url, assets = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    started = time.perf_counter()
    with requests.Session() as session:
        bodies = [body for uid, token in assets for body in _bodies(session, base_url, uid, token)]
    fetch_s = time.perf_counter() - started

    started = time.perf_counter()
    responses = sum(len(json.loads(body)["results"]) for body in bodies)
    decode_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="limits-") as tmp:
        files = []
        for n, body in enumerate(bodies):
            path = Path(tmp) / f"{n}.json"
            path.write_bytes(body)
            files.append(str(path))
        con = duckdb.connect()
        started = time.perf_counter()
        con.execute(
            "create table submissions as select unnest(results, max_depth := 2) "
            "from read_json(?, maximum_object_size = 1e9)",
            [files],
        )
        loaded = con.execute("select count(*) from submissions").fetchone()[0]
        duckdb_s = time.perf_counter() - started
    assert loaded == responses, (loaded, responses)
    print(json.dumps({"responses": responses, "fetch_s": fetch_s, "decode_s": decode_s, "duckdb_s": duckdb_s}))


if __name__ == "__main__":
    main()
