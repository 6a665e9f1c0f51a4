"""Organisation type per response: a partner whose survey asks each respondent for it (a city-wide survey).

A test-only registry: the demo's LimeSurvey partner asks for the organisation type with a list question
(ORGTYP, codes A1..A4 recoded to the codebook's types), the demo's Caritas keeps its one fixed type. Expected
figures are counted here from the responses the demo generated, never from the mart SQL.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import db
from pipeline.context import Context
from pipeline.contract import drift, quarantine
from pipeline.load.ingest import ingest_partner
from pipeline.load.runs import PartnerRun
from pipeline.maintenance.rebuild import rebuild
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_flows import cli
from pipeline_testkit import demo
from tests.conftest import query

ASKING, FIXED = "stadt-bildung-lu", "caritas-lu"
QUESTION = "ORGTYP"
RECODE = {"A1": "verwaltung", "A2": "wohlfahrt", "A3": "kultur", "A4": "migrantenorg"}
UNKNOWN_ID, MISSING_ID = 900, 901
NOT_AMONG = "organisation type not among verwaltung wohlfahrt arbeitsverwaltung hochschule kultur ehrenamt migrantenorg"


def _registry(tmp_path: Path, recode: dict[str, str]) -> Path:
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    data["partners"] = [p for p in data["partners"] if p["id"] in (ASKING, FIXED)]
    for partner in data["partners"]:
        if partner["id"] == ASKING:
            partner["org_type"] = {"field": QUESTION, "recode": recode}
    source = tmp_path / "asked.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return source


def _send_unknown_and_missing(world: demo.Demo) -> None:
    """Two more LimeSurvey responses, copies of a valid one: one with a code the recode does not know, one
    with the question shown and left unanswered ("")."""
    generated, served = world.generated[ASKING], world.served[ASKING]
    template = next(row for row, response in zip(served, generated, strict=True) if not response.invalid)
    world.services["limesurvey"].emulator.store(
        world.registry.partner(ASKING).connector.survey_id,
        [{**template, "id": UNKNOWN_ID, QUESTION: "A9"}, {**template, "id": MISSING_ID, QUESTION: ""}],
    )


@dataclass
class Loaded:
    world: demo.Demo
    settings: Settings
    runs: dict[str, PartnerRun]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    tmp = tmp_path_factory.mktemp("org_type")
    settings = Settings(data_dir=tmp / "data")
    with demo.running(settings, source=_registry(tmp, RECODE)) as world, pytest.MonkeyPatch.context() as env:
        for name, value in world.env.items():
            env.setenv(name, value)
        run_settings = Settings()
        _send_unknown_and_missing(world)
        runs = {p.id: ingest_partner(Context(run_settings), p.id, uuid.uuid4().hex) for p in world.registry.partners}
        build_marts(Context(run_settings))
        yield Loaded(world, run_settings, runs)


def test_the_emulated_survey_asks_the_org_type_as_a_list_question(loaded: Loaded) -> None:
    """LimeSurvey sends the answer code of the list question, and lists the question with its labels."""
    served = loaded.world.served[ASKING]
    assert {row[QUESTION] for row in served} <= set(RECODE)
    survey = loaded.world.services["limesurvey"].emulator.surveys[
        loaded.world.registry.partner(ASKING).connector.survey_id
    ]
    question = next(q for q in survey.questions if q.title == QUESTION)
    assert (question.type, question.answers["A4"]) == ("L", "Migrantenorganisation")


def test_responses_land_in_core_under_the_org_type_each_respondent_gave(loaded: Loaded) -> None:
    generated = loaded.world.generated[ASKING]
    expected = {(str(r.id), r.org_type) for r in generated if not r.invalid}
    assert len({org for _, org in expected}) == len(RECODE), "the demo draws every type the question offers"
    stored = query(
        loaded.settings,
        "select s.source_id, c.org_type from core.responses c join staging.responses s using (record_id) "
        "where c.partner_id = ?",
        [ASKING],
    )
    assert set(stored) == expected


def test_a_partner_with_a_fixed_org_type_is_unchanged(loaded: Loaded) -> None:
    run = loaded.runs[FIXED]
    generated = loaded.world.generated[FIXED]
    assert (run.inserted, run.quarantined) == (sum(not r.invalid for r in generated), sum(r.invalid for r in generated))
    stored = query(
        loaded.settings, "select org_type, count(*) from core.responses where partner_id = ? group by 1", [FIXED]
    )
    assert stored == [("wohlfahrt", run.inserted)]
    partners = query(loaded.settings, "select partner_id, org_type from core.partners order by 1")
    assert partners == [(FIXED, "wohlfahrt"), (ASKING, None)], "a partner that asks has no type of its own"


def test_the_marts_count_respondents_under_the_org_type_they_gave(loaded: Loaded) -> None:
    """n_answered per wave, organisation type and item, counted from the generated responses of both partners:
    Caritas's respondents and those of the city-wide survey who chose A2 add up under wohlfahrt."""
    codebook = loaded.world.codebook
    expected = Counter(
        (response.wave, response.org_type, item)
        for partner_id in (ASKING, FIXED)
        for response in loaded.world.generated[partner_id]
        if not response.invalid
        for item in response.answers
        if codebook.item_by_code[item].type != "text"
    )
    rows = query(
        loaded.settings,
        "select wave, org_type, item_code, n_answered from marts.item_results "
        "where org_type <> 'insgesamt' and n_answered > 0",
    )
    assert {(w, o, i): n for w, o, i, n in rows} == dict(expected)
    types = query(loaded.settings, "select distinct org_type from marts.item_results where org_type <> 'insgesamt'")
    assert {t for (t,) in types} == set(RECODE.values())


def test_an_unknown_or_missing_org_type_is_quarantined_naming_partner_response_field_value(loaded: Loaded) -> None:
    run = loaded.runs[ASKING]
    generated = loaded.world.generated[ASKING]
    invalid = sum(r.invalid for r in generated)
    assert (run.fetched, run.quarantined, run.inserted) == (len(generated) + 2, invalid + 2, len(generated) - invalid)
    assert run.fetched == run.inserted + run.updated + run.unchanged + run.quarantined + run.duplicates
    rejected = query(
        loaded.settings,
        "select partner_id, source_id, field, value, reason from ops.quarantine where field = 'org_type' order by 2",
    )
    assert rejected == [
        (ASKING, str(UNKNOWN_ID), "org_type", "A9", NOT_AMONG),
        (ASKING, str(MISSING_ID), "org_type", None, "organisation type missing"),
    ]


def test_the_partner_reads_its_own_question_and_codes_in_the_export(loaded: Loaded, tmp_path: Path) -> None:
    out = tmp_path / "bildung.csv"
    quarantine.export_for_partner(Context(loaded.settings), ASKING, out)
    sheet = pd.read_csv(out, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    columns = ["Frage (Ihr Code)", "Item (ChancenCheckLU)", "Wert", "Grund"]
    by_id = {row["Antwort-ID"]: [row[c] for c in columns] for _, row in sheet.iterrows()}
    allowed = "A1 A2 arbeitsverwaltung hochschule A3 ehrenamt A4"  # the codebook's order, as the partner spells it
    assert by_id[str(UNKNOWN_ID)] == [
        QUESTION,
        "org_type",
        "A9",
        f"Organisationstyp nicht zulässig (zulässig: {allowed})",
    ]
    assert by_id[str(MISSING_ID)] == [QUESTION, "org_type", "", "Organisationstyp fehlt"]


def test_drift_names_a_new_org_type_code_and_not_the_question(loaded: Loaded) -> None:
    con = db.connect(loaded.settings.db_path, loaded.settings.sql_dir, loaded.settings.duckdb_memory_limit)
    try:
        found = drift.report(con, loaded.settings.sql_dir, ASKING)
    finally:
        con.close()
    partner = loaded.world.registry.partner(ASKING)
    facts = [drift.describe(row, partner) for row in found.itertuples(index=False)]
    assert "new answer code 'A9' for org_type (ORGTYP) in 1 response" in " | ".join(facts)
    assert not any(QUESTION in fact and "unknown column" in fact for fact in facts)


def test_rebuild_and_replay_take_the_org_type_from_raw(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild gives every response its org type again from raw; once the recode knows A9, a replay loads the
    response quarantined for it under the type A9 now stands for."""
    with demo.running(settings, source=_registry(tmp_path, RECODE)) as world:
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        _send_unknown_and_missing(world)
        ingest_partner(Context.from_environment(), ASKING, "run-1")
    core = "select c.org_type, s.source_id from core.responses c join staging.responses s using (record_id) order by 2"
    before = query(Settings(), core)

    rebuild(Context.from_environment())

    assert query(Settings(), core) == before
    assert query(Settings(), "select source_id from ops.quarantine where field = 'org_type' order by 1") == [
        (str(UNKNOWN_ID),),
        (str(MISSING_ID),),
    ]
    registry_file = Path(Settings().partners_file)
    written = yaml.safe_load(registry_file.read_text(encoding="utf-8"))
    asking = next(p for p in written["partners"] if p["id"] == ASKING)
    asking["org_type"]["recode"]["A9"] = "ehrenamt"
    registry_file.write_text(yaml.safe_dump(written, allow_unicode=True, sort_keys=False), encoding="utf-8")

    quarantine.replay(Context.from_environment(), [ASKING])

    assert query(Settings(), core) == sorted([*before, ("ehrenamt", str(UNKNOWN_ID))], key=lambda row: row[1])
    assert query(Settings(), "select source_id from ops.quarantine where field = 'org_type'") == [(str(MISSING_ID),)]


def test_check_connect_names_an_org_type_list_labelled_otherwise(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A survey whose list has A1 = Wohlfahrtsverband and A2 = Stadtverwaltung, the other way round from the
    recode, would count every respondent under the other type without a single rejection."""
    with demo.running(settings, source=_registry(tmp_path, RECODE)) as world:
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        survey = world.services["limesurvey"].emulator.surveys[world.registry.partner(ASKING).connector.survey_id]
        question = next(q for q in survey.questions if q.title == QUESTION)
        question.answers = {**question.answers, "A1": question.answers["A2"], "A2": question.answers["A1"]}

        assert cli.main(["check", "--connect"]) == 1

    said = " ".join(capsys.readouterr().out.split())
    assert (
        f"label mismatch {ASKING}: {QUESTION} (org_type): A1 'Wohlfahrtsverband' becomes verwaltung "
        "'Stadtverwaltung'; A2 'Stadtverwaltung' becomes wohlfahrt 'Wohlfahrtsverband'"
    ) in said
    assert f"label mismatch {FIXED}" not in said
