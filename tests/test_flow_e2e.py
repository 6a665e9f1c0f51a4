"""End to end: the nightly Prefect flow against the emulator over loopback, into a temporary DuckDB file.

The expected figures are computed here with plain Python, from the generated responses (in instrument
codes) that the emulator served in the partners' own codes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.contract.codebook import Codebook
from pipeline.publish import release
from pipeline.settings import Settings
from pipeline_testkit.demo import Demo
from tests.conftest import PROJECT

pytestmark = pytest.mark.e2e


def _answers(world: Demo, codebook: Codebook, skip: set[str]) -> list[tuple[str, str, str, str]]:
    """(wave, org_type, item, answer) of every valid generated response, as the steering group should see
    them: only items of a Handlungsfeld count in the marts, free texts only in their own counts."""
    in_field = {item.code for item in codebook.items if item.field and item.type != "text"}
    return [
        (response.wave, partner.org_type, item, value)
        for partner in world.registry.partners
        if partner.id not in skip
        for response in world.generated[partner.id]
        if not response.invalid
        for item, value in response.answers.items()
        if item in in_field
    ]


def _expected_item_results(
    answers,
) -> dict[tuple[str, str, str], tuple[int, int, float | None, float | None]]:
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for wave, org_type, item, value in answers:
        groups[(wave, org_type, item)].append(value)
    expected = {}
    for key, values in groups.items():
        scale = [int(v) for v in values if v in {"1", "2", "3", "4", "5"}]
        mean = sum(scale) / len(scale) if scale else None
        top2 = sum(v >= 4 for v in scale) / len(scale) if scale else None
        expected[key] = (len(values), len(scale), mean, top2)
    return expected


def test_nightly_flow_loads_all_partners_and_the_mart_matches(world: Demo, run_settings: Settings, monkeypatch) -> None:
    from pipeline_flows.nightly import nightly

    monkeypatch.setenv("DEMO_TOKEN_JOBCENTER_LU", "revoked")
    state = nightly(return_state=True)

    assert state.is_failed()
    assert "partner jobcenter-lu" in state.message and "credentials rejected" in state.message
    answers = _answers(world, world.codebook, skip={"jobcenter-lu"})
    expected = _expected_item_results(answers)
    con = duckdb.connect(str(run_settings.db_path), read_only=True)
    mart = con.execute(
        "select wave, org_type, item_code, n_answered, n_valid, mean, top2_share from marts.item_results "
        "where org_type <> 'insgesamt' and field_code is not null"  # margins and Art. 9 items: tests/test_marts.py
    ).fetchall()
    distribution = con.execute(
        "select wave, org_type, item_code, answer_code, n from marts.item_distribution "
        "where n > 0 and org_type <> 'insgesamt' and field_code is not null"
    ).fetchall()
    status = dict(con.execute("select partner_id, status from ops.runs").fetchall())
    con.close()

    assert status == {p.id: "failed" if p.id == "jobcenter-lu" else "ok" for p in world.registry.partners}
    got = {(w, o, i): (n, nv, m, t) for w, o, i, n, nv, m, t in mart}
    assert got.keys() == expected.keys()
    for key, (n, n_valid, mean, top2) in expected.items():
        assert got[key][:2] == (n, n_valid), key
        assert got[key][2] == pytest.approx(mean) and got[key][3] == pytest.approx(top2), key
    types = {code: item.type for code, item in world.codebook.item_by_code.items()}
    ticked = Counter((w, o, i, code) for w, o, i, v in answers for code in (v.split() if types[i] == "multi" else [v]))
    assert dict(((w, o, i, c), n) for w, o, i, c, n in distribution) == dict(ticked)


def test_the_nightly_run_ends_with_a_release_that_groups_small_types(world: Demo, run_settings: Settings) -> None:
    from pipeline_flows.nightly import nightly

    state = nightly(return_state=True)
    assert state.is_completed(), state.message
    made = release.current(run_settings)
    assert made is not None and f"release {made.id} published" in state.message
    published = pd.read_parquet(made.directory / "tables" / "item_results.parquet")
    # the refugee initiative (3 and 4 responses) only within "Weitere Organisationen", with the smallest others
    assert all("ehrenamt" in made.manifest["grouping"][wave] for wave in ("2025", "2026"))
    assert not published["org_type"].isin(["ehrenamt"]).any() and published["org_type"].eq("weitere").any()
    fields = pd.read_parquet(made.directory / "tables" / "field_results.parquet")
    grouped = fields.loc[fields["org_type"] == "weitere", "n_respondents"].dropna()
    assert len(grouped) and (grouped >= run_settings.disclosure_k).all()
    counts = pd.read_parquet(made.directory / "tables" / "item_distribution.parquet")
    shown = counts["n"].dropna()
    assert ((shown == 0) | (shown >= run_settings.disclosure_k)).all()
    # Analysts' tools bundle DuckDB 1.x: the analyst file and the release's DuckDB open in it, comments included.
    for path in (run_settings.analyst_db_path, made.directory / "chancencheck.duckdb"):
        version, tables, commented = _read_with_duckdb_1(path)
        assert version.startswith("1.") and tables > 3 and commented > 0, (path, version, tables, commented)


def _read_with_duckdb_1(path: Path) -> tuple[str, int, int]:
    """DuckDB 1.x (installed apart by ./dev) opens path read-only: its version, tables and commented columns."""
    duckdb_1 = PROJECT / ".venv" / "duckdb-1"
    assert (duckdb_1 / "duckdb").is_dir(), "./dev test installs DuckDB 1.x into .venv/duckdb-1"
    script = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(duckdb.__version__, con.sql('select count(*) from duckdb_tables()').fetchone()[0], "
        "con.sql('select count(comment) from duckdb_columns()').fetchone()[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        env={**os.environ, "PYTHONPATH": str(duckdb_1)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-500:]
    version, tables, commented = done.stdout.split()
    return version, int(tables), int(commented)


def test_pipeline_demo_prints_where_everything_is(tmp_path) -> None:
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "demo")}
    env.pop("PIPELINE_PARTNERS_FILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline_flows.cli", "demo"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"Working DuckDB:    {tmp_path / 'demo' / 'pipeline.duckdb'}" in out
    assert f"Analyst DuckDB:    {tmp_path / 'demo' / 'analyst.duckdb'}" in out
    assert re.search(
        rf"release \d{{8}}T\d{{6}}Z: {re.escape(str(tmp_path / 'demo' / 'releases'))}/\d{{8}}T\d{{6}}Z", out
    )
    assert "disclosure audit passed" in out
    for kind in ("kobo", "limesurvey", "odk", "files", "sosci"):
        assert f"{kind} emulator" in out
    for partner in ("caritas-lu", "stadt-lu", "stadt-bildung-lu", "awo-lu", "staatsphilharmonie-lu"):
        assert partner in out
    assert "COMPLETED" in out
