"""End to end: the nightly Prefect flow against the emulator over loopback, into a temporary DuckDB file.

The expected figures are computed here, from the submissions the emulator served, with plain Python.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd
import pytest

from pipeline.codebook import Codebook
from pipeline.demo import Demo
from pipeline.settings import Settings

pytestmark = pytest.mark.e2e


def _answers(world: Demo, codebook: Codebook, skip: set[str]) -> list[tuple[str, str, str, str]]:
    """(wave, org_type, item, answer) of every valid response, as the steering group should see them."""
    out = []
    for partner in world.registry.partners:
        if partner.id in skip:
            continue
        for s in world.served[partner.id]:
            answers: dict[str, str] = {}
            for code, item_code in partner.mapping.items():
                if s.get(code) not in (None, ""):
                    item = codebook.item_by_code[item_code]
                    table = {**partner.recode.get(item.scale or "", {}), **partner.recode.get(item_code, {})}
                    answers[item_code] = table.get(s[code], s[code])
            if any(_invalid(codebook, item, value) for item, value in answers.items()):
                continue
            # Kobo sends UTC without an offset; wave windows are days in the city's time zone
            utc = datetime.fromisoformat(s["_submission_time"]).replace(tzinfo=UTC)
            submitted = utc.astimezone(ZoneInfo("Europe/Berlin")).date()
            wave = next(w for w in world.registry.waves if w.opens <= submitted <= w.closes)
            asked = {i.code for i in codebook.items_in(wave.instrument_version) if i.field}
            out += [(wave.code, partner.org_type, item, value) for item, value in answers.items() if item in asked]
    return out


def _invalid(codebook: Codebook, item_code: str, value: str) -> bool:
    item = codebook.item_by_code[item_code]
    codes = {o.code for o in codebook.options_of(item)}
    return item.type != "text" and not set(value.split() if item.type == "multi" else [value]) <= codes


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
    from flows.nightly import nightly

    monkeypatch.setenv("DEMO_TOKEN_JOBCENTER_LU", "revoked")
    state = nightly(return_state=True)

    assert state.is_failed()
    assert "partner jobcenter-lu" in state.message and "credentials rejected" in state.message
    answers = _answers(world, world.codebook, skip={"jobcenter-lu"})
    expected = _expected_item_results(answers)
    con = duckdb.connect(str(run_settings.db_path), read_only=True)
    mart = con.execute(
        "select wave, org_type, item_code, n_answered, n_valid, mean, top2_share from marts.item_results"
    ).fetchall()
    distribution = con.execute(
        "select wave, org_type, item_code, answer_code, n from marts.item_distribution where n > 0"
    ).fetchall()
    status = dict(con.execute("select partner_id, status from ops.runs").fetchall())
    con.close()

    assert status == {"caritas-lu": "ok", "stadt-lu": "ok", "jobcenter-lu": "failed", "hwg-lu": "ok",
                      "fluechtlingshilfe-lu": "ok"}  # fmt: skip
    got = {(w, o, i): (n, nv, m, t) for w, o, i, n, nv, m, t in mart}
    assert got.keys() == expected.keys()
    for key, (n, n_valid, mean, top2) in expected.items():
        assert got[key][:2] == (n, n_valid), key
        assert got[key][2] == pytest.approx(mean) and got[key][3] == pytest.approx(top2), key
    types = {code: item.type for code, item in world.codebook.item_by_code.items()}
    ticked = Counter(
        (w, o, i, code)
        for w, o, i, v in answers
        if types[i] != "text"
        for code in (v.split() if types[i] == "multi" else [v])
    )
    assert dict(((w, o, i, c), n) for w, o, i, c, n in distribution) == dict(ticked)


def test_published_tables_hide_small_groups(world: Demo, run_settings: Settings) -> None:
    from flows.nightly import nightly

    assert nightly(return_state=True).is_completed()
    published = pd.read_csv(run_settings.publish_dir / "item_results.csv", sep=";", decimal=",", encoding="utf-8-sig")
    small = published[published["org_type"] == "ehrenamt"]  # the refugee initiative: 3 and 4 responses
    assert len(small) > 0 and small["n_answered"].isna().all() and small["mean"].isna().all()
    assert (small["status"] == ".").all()
    big = published[(published["org_type"] == "verwaltung") & (published["item_type"] == "scale")]
    assert big["n_answered"].notna().all() and (big["n_answered"] >= run_settings.disclosure_k).all()
    counts = pd.read_parquet(run_settings.publish_dir / "item_distribution.parquet")
    shown = counts["n"].dropna()
    assert ((shown == 0) | (shown >= run_settings.disclosure_k)).all()


def test_pipeline_demo_prints_where_everything_is(tmp_path) -> None:
    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "demo")}
    env.pop("PIPELINE_PARTNERS_FILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"DuckDB file:       {tmp_path / 'demo' / 'pipeline.duckdb'}" in out
    assert f"Published tables:  {tmp_path / 'demo' / 'published'}" in out
    for partner in ("caritas-lu", "stadt-lu", "jobcenter-lu", "hwg-lu", "fluechtlingshilfe-lu"):
        assert partner in out
    assert "COMPLETED" in out
