"""Derived artefacts follow their inputs: a run with nothing new rebuilds neither the marts nor the analyst
file, and any change of what they are made of (responses, labels) rebuilds both."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import analyst
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from tests.conftest import partner_world, query

PARTNER = "hwg-lu"


def _run(run_id: str) -> tuple[object, object, int]:
    """One partner's ingest, the marts and the analyst file; returns when each was built and the file's inode."""
    settings = Settings()
    ingest_partner(Context(settings), PARTNER, run_id)
    build_marts(Context(settings))
    path = analyst.refresh(Context(settings))
    built = dict(query(settings, "select artefact, built_at from ops.built_from"))
    return built["marts"], built[analyst.ANALYST], path.stat().st_ino


def _analyst_wave_labels(path: Path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {label for (label,) in con.execute("select distinct wave_label from marts.item_results").fetchall()}
    finally:
        con.close()


def test_nothing_new_rebuilds_nothing_and_a_renamed_wave_rebuilds_both(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, PARTNER):
        first = _run("run-1")
        assert _run("run-2") == first, "nothing new: marts and analyst file as they were"

        registry = Settings().partners_file
        data = yaml.safe_load(registry.read_text(encoding="utf-8"))
        data["waves"][-1]["label"] = "Welle 2026 (umbenannt)"
        registry.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        marts_at, analyst_at, inode = _run("run-3")
        assert marts_at > first[0] and analyst_at > first[1] and inode != first[2]
        labels = {label for (label,) in query(Settings(), "select distinct wave_label from marts.item_results")}
        assert "Welle 2026 (umbenannt)" in labels
        assert "Welle 2026 (umbenannt)" in _analyst_wave_labels(Settings().analyst_db_path)
