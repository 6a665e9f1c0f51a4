"""Fixtures that start real things: the Kobo emulator on 127.0.0.1, DuckDB files in temporary folders."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline import db
from pipeline.contract.codebook import Codebook, load_codebook
from pipeline.registry import Registry, load_registry
from pipeline.settings import Settings
from pipeline_flows import temporary_server
from pipeline_testkit import demo

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"

# Every SQL file run checks its declared inputs first (pipeline.db.run), in this process and the CLI's it starts.
os.environ["PIPELINE_SQL_CHECKS"] = "1"


def _prefect_environment(home: Path) -> dict[str, str]:
    """Prefect keeps its state under a temporary home, and sends nothing anywhere."""
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        # the temporary API server that `pipeline run` starts in a child process takes longer than Prefect's 20 s
        # on a loaded 2-core machine (once, in a full run on 2026-12-07, more than 120 s)
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        # Prefect's console handler outlives pytest's captured streams; below WARNING it would write to a closed one.
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session", autouse=True)
def _prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Prefect's temporary API server, which the flows a test runs in this process use, started once before the
    first test, a hung start stopped and tried again (pipeline_flows.temporary_server), so that no test fails on
    it or spends its own time on it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _prefect_environment(tmp_path_factory.getbasetemp() / "prefect-home").items():
            patch.setenv(name, value)
        server = temporary_server.start(timeout_seconds=150)
        yield
        server.stop()


@pytest.fixture(autouse=True)
def _isolated_prefect(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the session's Prefect environment, whatever the one before changed in it."""
    for name, value in _prefect_environment(tmp_path_factory.getbasetemp() / "prefect-home").items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def codebook() -> Codebook:
    return load_codebook(PROJECT / "schemas" / "codebook" / "chancencheck.yaml")


@pytest.fixture(scope="session")
def demo_registry(codebook: Codebook) -> Registry:
    return load_registry(demo.DEMO_REGISTRY, codebook, check_secrets=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def world(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[demo.Demo]:
    """The demo partners served by the Kobo emulator, and the environment pointing the pipeline at it."""
    with demo.running(settings) as running:
        for name, value in running.env.items():
            monkeypatch.setenv(name, value)
        yield running


@pytest.fixture
def run_settings(world: demo.Demo) -> Settings:
    """Settings as the pipeline reads them once the demo environment is in place."""
    return Settings()


def query(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    """Read the pipeline's DuckDB file as an analyst would: read-only, closed again at once."""
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@contextmanager
def partner_world(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, partner_id: str, **connector: object
) -> Iterator[demo.Demo]:
    """The demo world with one demo partner alone (its connector settings changed as given), environment set."""
    data = demo_registry_of(partner_id)
    data["partners"][0]["connector"].update(connector)
    with registry_world(settings, tmp_path, monkeypatch, data) as world:
        yield world


def demo_registry_of(*partner_ids: str) -> dict:
    """The demo registry (as data, to change) with these demo partners alone."""
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    data["partners"] = [p for p in data["partners"] if p["id"] in partner_ids]
    return data


@contextmanager
def registry_world(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: dict
) -> Iterator[demo.Demo]:
    """The demo world of a registry given as data (waves and demo partners), environment set."""
    source = tmp_path / "registry.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with demo.running(settings, source=source) as world:
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        yield world


@pytest.fixture
def uncompressed_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline's DuckDB connections store strings uncompressed, so that a search of the file's bytes sees
    every string it holds, freed blocks included (DuckDB's compression would hide them from such a search)."""
    connect = db.connect

    def uncompressed(path: Path, sql_dir: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
        con = connect(path, sql_dir, memory_limit)
        con.execute("set force_compression = 'uncompressed'")
        return con

    monkeypatch.setattr(db, "connect", uncompressed)


def found_in_file(settings: Settings, needles: Iterable[str], path: Path | None = None) -> dict[str, list[str]]:
    """Where each needle still is: in the DuckDB file's bytes (the working file unless `path` is given) after a
    checkpoint (any freed block and the write-ahead log included) or in any text column of any table. Empty when
    none is found anywhere."""
    needles = list(needles)
    path = path or settings.db_path
    con = duckdb.connect(str(path))
    try:
        con.execute("checkpoint")
        columns = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() where database_name = "
            "current_database() and (data_type in ('VARCHAR', 'JSON') or data_type like '%[]')"
        ).fetchall()
        where: dict[str, list[str]] = {}
        for needle in needles:
            for schema, table, column in columns:
                hits = con.execute(
                    f'select count(*) from "{schema}"."{table}" where "{column}"::varchar like ?', [f"%{needle}%"]
                ).fetchone()[0]
                if hits:
                    where.setdefault(needle, []).append(f"{schema}.{table}.{column}")
    finally:
        con.close()
    stored = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*") if p.is_file())
    for needle in needles:
        if needle.encode() in stored:
            where.setdefault(needle, []).append("file bytes")
    return where


# A child process that stays until it is killed: the processes whose identity tests/test_processes.py and
# tests/test_orphans.py check.
SLEEP = "import time; time.sleep(120)"


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The processes a test starts (append them); each is killed when the test ends."""
    made: list[subprocess.Popen[bytes]] = []
    yield made
    for process in made:
        process.kill()
        process.wait(timeout=10)
