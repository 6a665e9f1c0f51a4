"""The bad input `pipeline demo` plants: every case loads or is quarantined with its reason, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.settings import Settings
from pipeline_testkit import demo
from pipeline_testkit.demo import bad_input
from tests.conftest import query

PARTNERS = (bad_input.KOBO_PARTNER, bad_input.FILES_PARTNER)


@pytest.fixture
def world(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    data["partners"] = [p for p in data["partners"] if p["id"] in PARTNERS]
    source = tmp_path / "partners.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with demo.running(settings, source=source) as running:
        for name, value in running.env.items():
            monkeypatch.setenv(name, value)
        yield running


def _in_core(settings: Settings, partner_id: str, source_id: str) -> int:
    return query(
        settings,
        "select count(*) from core.responses r join staging.responses s using (record_id) "
        "where s.partner_id = ? and s.source_id = ?",
        [partner_id, source_id],
    )[0][0]


def test_every_planted_case_loads_or_is_quarantined_with_its_reason(world: demo.Demo) -> None:
    planted = bad_input.plant(world)
    runs = {pid: ingest_partner(Context.from_environment(), pid, "run-1") for pid in PARTNERS}

    kobo, files = runs[bad_input.KOBO_PARTNER], runs[bad_input.FILES_PARTNER]
    assert kobo.fetched == len(world.served[bad_input.KOBO_PARTNER]) + 6
    assert files.fetched == len(world.served[bad_input.FILES_PARTNER]) + 5
    assert kobo.duplicates == 3 and files.duplicates == 0
    for run in runs.values():
        assert run.status == "ok"
        assert run.fetched == run.inserted + run.updated + run.unchanged + run.quarantined + run.duplicates
    reasons = dict(
        query(
            Settings(),
            "select partner_id || ':' || source_id, string_agg(reason, '; ') from ops.quarantine group by all",
        )
    )
    for case in planted:
        where = f"{case.partner_id}:{case.source_id}"
        if case.outcome == "quarantined":
            assert _in_core(Settings(), case.partner_id, case.source_id) == 0, case.case
            assert case.reason in reasons[where], case.case
        else:
            assert _in_core(Settings(), case.partner_id, case.source_id) == 1, case.case
            assert where not in reasons, case.case
    texts = query(
        Settings(),
        "select a.answer_text from core.answers a join core.responses r using (respondent_key) "
        "join staging.responses s using (record_id) where s.source_id in ('9002', '9104')",
    )
    assert {
        ("Mehr Begegnung 🤝🏽 im Hemshof – danke! 🎉",),
        ("Barrierefreie Konzerte für Ältere, Übertitel für alle",),
    } <= set(texts)
