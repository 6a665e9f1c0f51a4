"""The quarantine as operator and partners use it: list, German export, replay after a fix, rebuild from raw."""

from __future__ import annotations

import os
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from pipeline.context import Context
from pipeline.contract import quarantine
from pipeline.contract.codebook import Codebook
from pipeline.load.ingest import ingest_partner
from pipeline.maintenance.rebuild import rebuild
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_flows import cli
from pipeline_testkit import demo
from tests.conftest import partner_world, query

PARTNER = "jobcenter-lu"  # answers "weiß nicht" / "keine Angabe" as 98 / 99, which its recode translates


@pytest.fixture
def without_recode(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The Jobcenter alone, registered without its recode: every 98/99 answer is rejected."""
    data = yaml.safe_load(demo.DEMO_REGISTRY.read_text(encoding="utf-8"))
    data["partners"] = [p for p in data["partners"] if p["id"] == PARTNER]
    source = tmp_path / "jobcenter.yaml"
    source.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with demo.running(settings, source=source) as world:
        for name, value in world.env.items():
            monkeypatch.setenv(name, value)
        registry_file = Path(os.environ["PIPELINE_PARTNERS_FILE"])
        written = yaml.safe_load(registry_file.read_text(encoding="utf-8"))
        recode = written["partners"][0].pop("recode")
        registry_file.write_text(yaml.safe_dump(written, allow_unicode=True, sort_keys=False), encoding="utf-8")
        yield world, registry_file, recode


def _answers_dont_know(response, codebook: Codebook) -> bool:
    return any(codebook.item_by_code[i].type == "scale" and v in ("wn", "ka") for i, v in response.answers.items())


def test_replay_after_a_mapping_fix_loads_what_now_passes(without_recode, codebook: Codebook) -> None:
    world, registry_file, recode = without_recode
    generated = world.generated[PARTNER]
    run = ingest_partner(Context.from_environment(), PARTNER, "run-1")
    rejected = {str(r.id) for r in generated if r.invalid or _answers_dont_know(r, codebook)}
    assert run.quarantined == len(rejected) > sum(r.invalid for r in generated)
    assert {row.source_id for row in quarantine.open_rejections(Context.from_environment()).itertuples()} == rejected

    fixed = yaml.safe_load(registry_file.read_text(encoding="utf-8"))
    fixed["partners"][0]["recode"] = recode
    registry_file.write_text(yaml.safe_dump(fixed, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (still, inserted, updated) = quarantine.replay(Context.from_environment())[PARTNER]

    invalid = {str(r.id) for r in generated if r.invalid}
    assert (still, inserted, updated) == (len(invalid), len(rejected - invalid), 0)
    left = quarantine.open_rejections(Context.from_environment())
    assert set(left["source_id"]) == invalid
    assert set(left["check_name"]) == {"answer code not among 1 2 3 4 5 wn ka"}
    assert (left["record_id"].str.len() > 0).all() and set(left["reason"]) == set(left["check_name"])
    loaded = query(Settings(), "select count(*) from core.responses")[0][0]
    assert loaded == len(generated) - len(invalid)


def test_export_gives_the_partner_its_own_codes_and_german_reasons(without_recode, tmp_path: Path) -> None:
    world, _, _ = without_recode
    ingest_partner(Context.from_environment(), PARTNER, "run-1")
    out = tmp_path / "jobcenter.csv"
    n = quarantine.export_for_partner(Context.from_environment(), PARTNER, out)
    assert out.read_bytes().startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM for German Excel"
    sheet = pd.read_csv(out, sep=";", encoding="utf-8-sig", dtype=str)
    assert len(sheet) == n > 0
    assert list(sheet.columns) == list(quarantine.EXPORT_COLUMNS.values())
    row = sheet[sheet["Wert"] == "98"].iloc[0]
    assert row["Grund"] == "Antwortcode nicht zulässig (zulässig: 1 2 3 4 5 wn ka)"
    item = row["Item (ChancenCheckLU)"]
    assert row["Frage (Ihr Code)"].split(", ")[0] == f"fragen/q_{item.lower()}"
    assert row["Zurückgewiesen am"][2] == "." and row["Zurückgewiesen am"][5] == "."


def test_export_names_allowed_codes_and_the_time_column_as_the_partner_sends_them(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LimeSurvey codes its scale A1..A7 (recoded to 1..5, wn, ka) and sends the submission time as submitdate."""
    partner_id = "stadt-bildung-lu"
    with partner_world(settings, tmp_path, monkeypatch, partner_id) as world:
        config = world.registry.partner(partner_id).connector
        template = world.served[partner_id][0]
        world.services["limesurvey"].emulator.store(
            config.survey_id,
            [
                {**template, "id": 900, "HF1Q01": "A9"},
                {**template, "id": 901, "submitdate": "2024-01-15 10:00:00", "datestamp": "2024-01-15 10:00:00"},
            ],
        )
        ingest_partner(Context.from_environment(), partner_id, "run-1")
        out = tmp_path / "bildung.csv"
        quarantine.export_for_partner(Context.from_environment(), partner_id, out)

    sheet = pd.read_csv(out, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    columns = ["Frage (Ihr Code)", "Item (ChancenCheckLU)", "Wert", "Grund"]
    by_id = {row["Antwort-ID"]: [row[c] for c in columns] for _, row in sheet.iterrows()}
    assert by_id["900"] == ["HF1Q01", "HF1_01", "A9", "Antwortcode nicht zulässig (zulässig: A1 A2 A3 A4 A5 A6 A7)"]
    assert by_id["901"] == [
        "submitdate",
        "Abgabezeitpunkt",
        "2024-01-15 10:00:00",
        "Abgabe außerhalb jedes Erhebungszeitraums",
    ]
    assert not set(sheet["Item (ChancenCheckLU)"]) & {"submitted_at", "wave", "source_id"}


def test_rebuild_from_raw_equals_the_incremental_state(world: demo.Demo, run_settings: Settings) -> None:
    for partner in world.registry.partners:
        ingest_partner(Context(run_settings), partner.id, "run-1")
    kobo = world.services["kobo"]
    served = world.served["caritas-lu"]
    latest = max(served, key=lambda s: s["_submission_time"])
    code = next(k for k, v in latest.items() if k.startswith("hf1/") and v in ("1", "2", "3", "4", "5"))
    edited = {**latest, code: "1" if latest[code] != "1" else "2"}
    broken_edit = {**edited, "_id": served[0]["_id"], "_submission_time": latest["_submission_time"], code: "9"}
    kobo.emulator.add_submissions(world.registry.partner("caritas-lu").connector.asset_uid, [edited, broken_edit])
    ingest_partner(Context(run_settings), "caritas-lu", "run-2")
    build_marts(Context(run_settings))
    before = _state(run_settings)

    results = rebuild(Context(run_settings))

    assert _state(run_settings) == before
    assert set(results) == {p.id for p in world.registry.partners}


def _state(settings: Settings) -> dict[str, list]:
    return {
        "core.responses": query(
            settings, "select * exclude (first_loaded_at, updated_at) from core.responses order by all"
        ),
        "core.answers": query(settings, "select * from core.answers order by all"),
        "staging.responses": query(settings, "select * exclude (loaded_at) from staging.responses order by all"),
        "quarantine": query(settings, "select record_id, field, value, reason from ops.quarantine order by all"),
        "marts.item_results": query(settings, "select * from marts.item_results order by all"),
    }


def test_excel_export_has_german_headers_a_frozen_header_and_only_text(without_recode, tmp_path: Path) -> None:
    world, _, _ = without_recode
    kobo = world.services["kobo"]
    uid = world.registry.partner(PARTNER).connector.asset_uid
    formula = {**kobo.served[PARTNER][-1], "_id": 90_001, "fragen/q_hf1_01": '=HYPERLINK("http://x.invalid")'}
    control = {**formula, "_id": 90_002, "fragen/q_hf1_01": "Zeile\x07mit Steuerzeichen"}
    kobo.emulator.add_submissions(uid, [formula, control])
    ingest_partner(Context.from_environment(), PARTNER, "run-1")
    out = tmp_path / "jobcenter.xlsx"

    assert cli.main(["quarantine", "export", "--partner", PARTNER, "--out", str(out)]) == 0

    sheet = openpyxl.load_workbook(out).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(quarantine.EXPORT_COLUMNS.values())
    assert sheet.freeze_panes == "A2" and all(cell.font.bold for cell in sheet[1])
    expected = len(quarantine.open_rejections(Context.from_environment(), PARTNER))
    assert len(rows) - 1 == expected > 2
    widths = [sheet.column_dimensions[letter].width for letter in "ABCDEF"]
    assert all(10 <= width <= 60 for width in widths)
    by_id = {(row[0], row[3]) for row in rows[1:]}
    assert ("90001", '=HYPERLINK("http://x.invalid")') in by_id and ("90002", "Zeile\ufffdmit Steuerzeichen") in by_id
    assert all(cell.data_type == "s" for row in sheet.iter_rows(min_row=2, max_col=5) for cell in row)
    when = sheet.cell(row=2, column=6)
    assert when.is_date and when.number_format == "DD.MM.YYYY HH:MM"


def test_csv_export_defuses_formulas_a_partner_sent(without_recode, tmp_path: Path) -> None:
    """Opened in Excel, a rejected value must stay a value: a cell starting with = + - @ tab or CR is prefixed
    with an apostrophe (OWASP); a plain negative number is left alone."""
    world, _, _ = without_recode
    kobo = world.services["kobo"]
    uid = world.registry.partner(PARTNER).connector.asset_uid
    hostile = ['=HYPERLINK("http://x.invalid","klick")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTab", "-9"]
    base = kobo.served[PARTNER][-1]
    planted = [{**base, "_id": 91_000 + i, "fragen/q_hf1_02": value} for i, value in enumerate(hostile)]
    kobo.emulator.add_submissions(uid, planted)
    ingest_partner(Context.from_environment(), PARTNER, "run-1")
    out = tmp_path / "jobcenter.csv"

    assert cli.main(["quarantine", "export", "--partner", PARTNER, "--out", str(out)]) == 0

    exported = pd.read_csv(out, sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    asked = exported[exported["Frage (Ihr Code)"] == "fragen/q_hf1_02"]
    values = dict(zip(asked["Antwort-ID"], asked["Wert"], strict=True))
    shown = [values[str(91_000 + i)] for i in range(len(hostile))]
    assert shown == ["'" + value for value in hostile[:-1]] + ["-9"]
