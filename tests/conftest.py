"""Fixtures that start real things: the Kobo emulator on 127.0.0.1, DuckDB files in temporary folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import demo
from pipeline.codebook import Codebook, load_codebook
from pipeline.registry import Registry, load_registry
from pipeline.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared"


@pytest.fixture(autouse=True)
def _isolated_prefect(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect keeps its state under a temporary home, and sends nothing anywhere."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path_factory.getbasetemp() / "prefect-home"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's console handler outlives pytest's captured streams; below WARNING it would write to a closed one.
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "WARNING")


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
