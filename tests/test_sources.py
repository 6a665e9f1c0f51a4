"""A partner moved to a new survey or form: old and new responses side by side, each survey complete, and a working
file of before sources were kept still working (its keys, cursor, erasures, quarantine, rebuild)."""

from __future__ import annotations

import copy
import csv
import gzip
import hashlib
import hmac
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline.context import Context
from pipeline.contract.quarantine import export_for_partner, open_rejections, replay
from pipeline.load.ingest import ingest_partner
from pipeline.maintenance.erase import erase
from pipeline.maintenance.rebuild import rebuild
from pipeline.settings import Settings
from pipeline_flows import cli
from pipeline_testkit import demo
from pipeline_testkit.emulators.limesurvey import LimeSurveyEmulator
from pipeline_testkit.emulators.odk import OdkEmulator
from tests.conftest import PROJECT, demo_registry_of, partner_world, query, registry_world

LIME, ODK = "stadt-bildung-lu", "awo-lu"
# Made by the code of 8b75693 (before sources were kept) from the demo's LimeSurvey and ODK partners, with this
# respondent key: both ingested once, LimeSurvey's response 2 erased (docs/decisions/identity.md says how).
WORKING_FILE = PROJECT / "tests" / "fixtures" / "working_file_8b75693.duckdb.gz"
WORKING_FILE_KEY = "test-key-of-the-working-file-fixture"


def _reconfigure(partner_id: str, **connector: object) -> None:
    """Change a partner's connector in the registry the pipeline reads, as an operator edits it."""
    path = Settings().partners_file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(p for p in data["partners"] if p["id"] == partner_id)["connector"].update(connector)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _core(settings: Settings, partner_id: str) -> dict[tuple[str, str], str]:
    """(source, response id) → respondent key of the partner's responses in core."""
    rows = query(
        settings,
        "select s.source, s.source_id, r.respondent_key from core.responses r "
        "join staging.responses s using (record_id) where r.partner_id = ?",
        [partner_id],
    )
    return {(source, source_id): key for source, source_id, key in rows}


def _key(partner_id: str, *parts: str) -> str:
    message = ":".join((partner_id, *parts)).encode()
    return hmac.new(os.environ["PIPELINE_RESPONDENT_KEY"].encode(), message, hashlib.sha256).hexdigest()


def _valid_rows(world: demo.Demo, partner_id: str) -> list[dict]:
    return [row for row, r in zip(world.served[partner_id], world.generated[partner_id], strict=True) if not r.invalid]


def _lime_survey_b(world: demo.Demo, survey_b: int) -> list[dict]:
    """Survey B on the same server: responses 1, 2, 3 again (other respondents, answers of others)."""
    emulator: LimeSurveyEmulator = world.services["limesurvey"].emulator  # type: ignore[assignment]
    rows = [{**row, "id": i} for i, row in enumerate(_valid_rows(world, LIME)[10:13], start=1)]
    emulator.add_survey(survey_b, world.registry.partner(LIME).connector.username, rows)
    return rows


@pytest.fixture
def lime(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[demo.Demo]:
    with partner_world(settings, tmp_path, monkeypatch, LIME) as world:
        yield world


def test_a_new_limesurvey_survey_with_the_same_ids_loads_beside_the_old_one(lime: demo.Demo) -> None:
    survey_a = lime.registry.partner(LIME).connector.survey_id
    first = ingest_partner(Context.from_environment(), LIME, "run-1")
    before = _core(Settings(), LIME)
    overlap = sorted(k for k in before if k[1] in {"1", "2", "3"})
    assert len(before) == first.inserted and overlap, "survey A holds responses 1, 2, 3 too"

    rows_b = _lime_survey_b(lime, survey_a + 1)
    _reconfigure(LIME, survey_id=survey_a + 1)
    second = ingest_partner(Context.from_environment(), LIME, "run-2")

    assert (second.fetched, second.inserted, second.updated) == (3, 3, 0), "B's first responses are not skipped"
    after = _core(Settings(), LIME)
    assert {k: v for k, v in after.items() if k[0] == f"limesurvey:{survey_a}"} == before, "all of A, keys kept"
    new = {k: v for k, v in after.items() if k[0] == f"limesurvey:{survey_a + 1}"}
    assert new == {
        (f"limesurvey:{survey_a + 1}", str(r["id"])): _key(LIME, "limesurvey", str(survey_a + 1), str(r["id"]))
        for r in rows_b
    }
    assert before[overlap[0]] == _key(LIME, overlap[0][1]), "the first survey keeps HMAC(partner:id)"

    third = ingest_partner(Context.from_environment(), LIME, "run-3")
    assert (third.fetched, third.inserted) == (0, 0), "B's cursor is B's own"


def test_a_new_odk_form_with_the_same_instance_ids_loads_beside_the_old_one(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with partner_world(settings, tmp_path, monkeypatch, ODK) as world:
        config = world.registry.partner(ODK).connector
        first = ingest_partner(Context.from_environment(), ODK, "run-1")
        before = _core(Settings(), ODK)

        emulator: OdkEmulator = world.services["odk"].emulator  # type: ignore[assignment]
        valid = _valid_rows(world, ODK)
        rows_b = []
        for same, other in zip(valid[:3], valid[10:13], strict=True):  # the ids of A's first three, others' answers
            row = copy.deepcopy(other)
            row["__id"] = row["meta"]["instanceID"] = same["__id"]
            rows_b.append(row)
        emulator.add_form(config.project_id, "chancencheck_awo_2027", {config.email}, rows_b)
        _reconfigure(ODK, form_id="chancencheck_awo_2027")
        second = ingest_partner(Context.from_environment(), ODK, "run-2")

    assert (first.inserted, second.fetched, second.inserted, second.updated) == (len(before), 3, 3, 0)
    after = _core(Settings(), ODK)
    assert {k: v for k, v in after.items() if k[0] == f"odk:{config.project_id}/{config.form_id}"} == before
    assert {k for k in after if k[0] == f"odk:{config.project_id}/chancencheck_awo_2027"} == {
        (f"odk:{config.project_id}/chancencheck_awo_2027", r["__id"]) for r in rows_b
    }


def _answers(settings: Settings) -> set[tuple]:
    return set(query(settings, "select respondent_key, item_code, answer_code, answer_text from core.answers"))


def test_a_working_file_of_before_sources_were_kept_goes_on_working(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Its rows, cursors and erasure belong to the survey and form the partners are configured with: a full read
    finds everything unchanged under the same keys, the erased response stays out, a new survey loads beside
    it, and erase, quarantine replay, drift and rebuild work on both."""
    monkeypatch.setenv("PIPELINE_RESPONDENT_KEY", WORKING_FILE_KEY)  # the demo takes the key set
    settings.data_dir.mkdir(parents=True)
    with gzip.open(WORKING_FILE) as packed, settings.db_path.open("wb") as unpacked:
        shutil.copyfileobj(packed, unpacked)
    old = duckdb.connect(str(settings.db_path))
    keys_before = {pid: dict(old.execute(
        "select s.source_id, r.respondent_key from core.responses r join staging.responses s using (record_id) "
        "where r.partner_id = ?", [pid]).fetchall()) for pid in (LIME, ODK)}  # fmt: skip
    [(erased_key,)] = old.execute("select respondent_key from ops.erased").fetchall()
    quarantined = old.execute("select count(distinct record_id) from ops.quarantine").fetchall()[0][0]
    old.execute("delete from ops.full_reads")  # the next pull reads everything, as every reread_days
    old.close()
    assert erased_key == _key(LIME, "2") and quarantined == 4

    with registry_world(settings, tmp_path, monkeypatch, demo_registry_of(LIME, ODK)) as world:
        runs = {pid: ingest_partner(Context.from_environment(), pid, "run-after") for pid in (LIME, ODK)}
        # The emulators send some answers otherwise than when the file was made (multiple choice as the tools
        # send it), so versions may be updated or quarantined again; none is a new respondent.
        assert [(r.fetched, r.inserted, r.duplicates) for r in runs.values()] == [
            (65, 0, 1),  # LimeSurvey's erased response 2 is listed again and left out
            (65, 0, 0),
        ]
        survey_a = world.registry.partner(LIME).connector.survey_id
        lime_a = f"limesurvey:{survey_a}"
        assert {k[1]: v for k, v in _core(Settings(), LIME).items() if k[0] == lime_a} == keys_before[LIME]
        assert {k[1]: v for k, v in _core(Settings(), ODK).items()} == keys_before[ODK]
        assert query(Settings(), "select count(*) from ops.quarantine where source is null") == [(0,)]
        assert query(Settings(), "select count(*) from raw.records where source is null") == [(0,)]

        _lime_survey_b(world, survey_a + 1)
        _reconfigure(LIME, survey_id=survey_a + 1)
        assert ingest_partner(Context.from_environment(), LIME, "run-b").inserted == 3
        lime_b = f"limesurvey:{survey_a + 1}"
        keys = _core(Settings(), LIME)
        both = next(i for i in ("1", "3") if (lime_a, i) in keys and (lime_b, i) in keys)
        erase(Context.from_environment(), LIME, both, "test")  # in survey B, the one configured
        assert set(keys) - set(_core(Settings(), LIME)) == {(lime_b, both)}, "survey A's response stays"
        erase(Context.from_environment(), LIME, both, "test", source=lime_a)
        assert set(keys) - set(_core(Settings(), LIME)) == {(lime_b, both), (lime_a, both)}
        assert query(Settings(), "select count(*) from ops.erased") == [(3,)]
        assert ingest_partner(Context.from_environment(), LIME, "run-b2").inserted == 0

        core_before, answers_before = _core(Settings(), LIME) | _core(Settings(), ODK), _answers(Settings())
        assert sum(replay(Context.from_environment()).get(LIME, (0, 0, 0))) >= 0
        assert cli.main(["drift"]) == 0 and cli.main(["quarantine", "list"]) == 0
        capsys.readouterr()
        rebuild(Context.from_environment())
        assert _core(Settings(), LIME) | _core(Settings(), ODK) == core_before
        assert _answers(Settings()) == answers_before


def test_rejections_of_two_surveys_are_listed_and_exported_with_their_survey(
    lime: demo.Demo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partner with one survey per wave has a response 1 in each: a rejection must say which survey it is of."""
    survey_a = lime.registry.partner(LIME).connector.survey_id
    ingest_partner(Context.from_environment(), LIME, "run-1")
    rejected_id = open_rejections(Context.from_environment(), LIME)["source_id"].iloc[0]
    emulator: LimeSurveyEmulator = lime.services["limesurvey"].emulator  # type: ignore[assignment]
    late = {**_valid_rows(lime, LIME)[5], "id": int(rejected_id), "submitdate": "2019-05-01 10:00:00"}
    emulator.add_survey(survey_a + 1, lime.registry.partner(LIME).connector.username, [late])
    _reconfigure(LIME, survey_id=survey_a + 1)
    ingest_partner(Context.from_environment(), LIME, "run-2")
    both = {f"limesurvey:{survey_a}", f"limesurvey:{survey_a + 1}"}

    assert cli.main(["quarantine", "list", "--partner", LIME, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["source"] for row in listed if row["source_id"] == rejected_id} == both
    export = tmp_path / "export.csv"
    export_for_partner(Context.from_environment(), LIME, export, "csv")
    rows = list(csv.DictReader(export.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    assert {row["Umfrage"] for row in rows if row["Antwort-ID"] == rejected_id} == both
