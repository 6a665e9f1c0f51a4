"""Mapping and validation of one batch, on frames shaped as the loader hands them over."""

import json
from datetime import UTC, datetime

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest

from pipeline.contract import batch
from pipeline.contract import validation as contract
from pipeline.contract.batch import BatchContract
from pipeline.contract.codebook import Codebook, Option
from pipeline.registry import Registry
from pipeline_flows import cli
from tests.conftest import PROJECT

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SQL_DIR = PROJECT / "sql"


def _batch(rows: dict[str, dict], registry: Registry, tz="UTC") -> pd.DataFrame:
    """rows: record_id → {"source_id", "submitted_at"}: the responses' own columns as pandera checks them."""
    meta = pd.DataFrame(
        [
            {"record_id": r, "source_id": v.get("source_id"), "submitted_at": v.get("submitted_at")}
            for r, v in rows.items()
        ]
    )
    asked = pd.DataFrame(columns=["record_id", "value"])
    return contract.shape(meta, asked, registry.wave_windows(), tz, "Europe/Berlin", org_type="verwaltung")


def _classified(rows: dict[str, dict]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding rows as raw/classify_batch leaves a batch of new versions: each response's JSON
    keyed by item code (a partner whose question codes are the items')."""
    con = duckdb.connect()
    frame = pd.DataFrame(
        [
            {
                "page_id": "page",
                "ordinal": ordinal,
                "record_id": r,
                "source_id": v.get("source_id"),
                "submitted_at": v.get("submitted_at"),
                "record": json.dumps({k: x for k, x in v.items() if k not in ("source_id", "submitted_at")}),
                "disposition": "new",
            }
            for ordinal, (r, v) in enumerate(rows.items(), start=1)
        ]
    )
    con.register("rows", frame)
    con.execute("create temp table batch_classified as select * from rows")
    return con


def _check(
    rows: dict[str, dict], codebook: Codebook, registry: Registry, recode=None, tz="UTC", con=None
) -> contract.Checked:
    """rows: record_id → {"source_id", "submitted_at", item_code: value, ...}, checked as the loader checks a batch."""
    schema = contract.schema(codebook)
    checks = BatchContract(
        schema=schema,
        rules=contract.item_rules(schema, codebook, recode or {}),
        extraction=batch.extraction({item.code: item.code for item in codebook.items}, None),
        waves=registry.wave_windows(),
        timezone="Europe/Berlin",
        org_type="verwaltung",
    )
    return checks.check(con or _classified(rows), SQL_DIR, tz, NOW)


def test_valid_rows_pass_and_get_their_wave(codebook, demo_registry) -> None:
    checked = _check(
        {
            "r1": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "4", "HF2_04": "ja"},
            "r2": {
                "source_id": "2",
                "submitted_at": "2026-05-02T09:00:00",
                "HF5_03": "a sonstiges",
                "HF1_01": "wn",
            },
        },
        codebook,
        demo_registry,
    )
    assert checked.failures.empty
    assert checked.valid["wave"].to_dict() == {"r1": "2025", "r2": "2026"}
    assert checked.valid["instrument_version"].to_dict() == {"r1": "2025.1", "r2": "2026.1"}


def test_each_failure_names_response_field_value_and_reason(codebook, demo_registry) -> None:
    checked = _check(
        {
            "ok": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "5"},
            "bad": {"source_id": "2", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "7", "HF5_03": "a zz"},
        },
        codebook,
        demo_registry,
    )
    assert list(checked.valid.index) == ["ok"]
    failures = checked.failures.set_index("field")
    assert set(failures["record_id"]) == {"bad"} and set(failures["source_id"]) == {"2"}
    assert failures.loc["HF1_01", "value"] == "7"
    assert failures.loc["HF1_01", "reason"] == "answer code not among 1 2 3 4 5 wn ka"
    assert failures.loc["HF5_03", "value"] == "a zz"
    assert failures.loc["HF5_03", "reason"].startswith("option not among a b")


@pytest.mark.parametrize(
    ("submitted_at", "reason"),
    [
        ("gestern", "submission time missing or not a date"),
        (None, "submission time missing or not a date"),
        ("2024-12-24T10:00:00", "submitted outside every survey wave's window"),
        ("2027-04-01T10:00:00", "submitted in the future"),
    ],
)
def test_bad_submission_times_are_quarantined(codebook, demo_registry, submitted_at, reason) -> None:
    checked = _check({"r": {"source_id": "1", "submitted_at": submitted_at, "HF1_01": "3"}}, codebook, demo_registry)
    assert checked.valid.empty
    assert reason in set(checked.failures["reason"])


def test_missing_response_id_is_quarantined(codebook, demo_registry) -> None:
    checked = _check({"r": {"source_id": None, "submitted_at": "2025-04-02T09:00:00"}}, codebook, demo_registry)
    assert checked.failures["reason"].tolist() == ["the response has no id"]


def test_free_text_longer_than_allowed_is_quarantined(codebook, demo_registry) -> None:
    text_item = next(i for i in codebook.items if i.type == "text")
    long_text = "ä" * ((text_item.max_length or contract.TEXT_MAX_LENGTH) + 1)
    checked = _check(
        {"r": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", text_item.code: long_text}},
        codebook,
        demo_registry,
    )
    assert checked.failures["field"].tolist() == [text_item.code]


def test_partner_codes_are_recoded_before_validation(codebook, demo_registry) -> None:
    """A scale's codes are recoded whole, a multiple choice's option by option; a code the recode does not list
    is checked as sent."""
    recode = {"zustimmung5": {"98": "wn", "99": "ka"}, "HF5_03": {"x": "a", "y": "sonstiges"}}
    rows = {
        "r": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "98", "HF5_03": "y  x"},
        "bad": {"source_id": "2", "submitted_at": "2025-04-02T09:00:00", "HF5_03": "x zz"},
    }
    con = _classified(rows)
    checked = _check(rows, codebook, demo_registry, recode=recode, con=con)
    assert checked.failures[["record_id", "field", "value"]].values.tolist() == [["bad", "HF5_03", "a zz"]]
    batch.valid_answers(con, SQL_DIR, checked.valid)
    got = con.execute("select item_code, answer_code from valid_answers order by all").fetchall()
    assert got == [("HF1_01", "wn"), ("HF5_03", "a"), ("HF5_03", "sonstiges")]


def test_times_without_offset_are_read_in_the_tools_time_zone(codebook, demo_registry) -> None:
    frame = _batch(
        {"r": {"source_id": "1", "submitted_at": "2025-04-02 09:00:00"}},
        demo_registry,
        tz="Europe/Berlin",
    )
    assert frame.loc["r", "submitted_at"] == pd.Timestamp("2025-04-02T07:00:00Z")


def test_answers_are_long_with_one_row_per_ticked_option(codebook, demo_registry) -> None:
    text_item = next(i for i in codebook.items if i.type == "text")
    rows = {
        "r": {
            "source_id": "1",
            "submitted_at": "2025-04-02T09:00:00",
            "HF1_01": "2",
            "HF5_03": "c a\u00a0c",
            text_item.code: "Mehr einfache Sprache 🙏",
        },
    }
    con = _classified(rows)
    checked = _check(rows, codebook, demo_registry, con=con)
    assert checked.failures.empty
    batch.valid_answers(con, SQL_DIR, checked.valid)
    got = sorted(con.execute("select * from valid_answers").fetchall(), key=str)
    assert got == sorted(
        [
            ("r", "HF1_01", "2", None),
            ("r", "HF5_03", "a", None),
            ("r", "HF5_03", "c", None),
            ("r", text_item.code, None, "Mehr einfache Sprache 🙏"),
        ],
        key=str,
    ), "an option ticked twice is one answer, whatever space separates the options"


def test_mixed_offsets_and_naive_times_are_all_read(codebook, demo_registry) -> None:
    frame = _batch(
        {
            "a": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00+02:00"},
            "b": {"source_id": "2", "submitted_at": "2025-04-02T09:00:00Z"},
            "c": {"source_id": "3", "submitted_at": "2025-04-02T09:00:00"},
        },
        demo_registry,
        tz="Europe/Berlin",
    )
    assert frame["submitted_at"].tolist() == [
        pd.Timestamp("2025-04-02T07:00:00Z"),
        pd.Timestamp("2025-04-02T09:00:00Z"),
        pd.Timestamp("2025-04-02T07:00:00Z"),
    ]


def test_wave_windows_are_local_days(codebook, demo_registry) -> None:
    """The 2025 wave opens on 1 March: 00:30 in Ludwigshafen is still 28 February in UTC."""
    frame = _batch(
        {
            "early": {"source_id": "1", "submitted_at": "2025-02-28T23:30:00Z"},
            "late": {"source_id": "2", "submitted_at": "2025-06-30T21:30:00Z"},
            "after": {"source_id": "3", "submitted_at": "2025-06-30T22:30:00Z"},
        },
        demo_registry,
    )
    assert frame["wave"].tolist() == ["2025", "2025", None]


@pytest.mark.parametrize("number", ["37,5", "37.5", "3,0"])
def test_numbers_are_no_answer_codes(codebook, demo_registry, number) -> None:
    """A tool that sends a number where a code belongs ("37,5", "3,0") is rejected with its value, not rounded."""
    checked = _check(
        {"r": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", "HF1_01": number}}, codebook, demo_registry
    )
    assert checked.failures[["field", "value"]].values.tolist() == [["HF1_01", number]]


def test_free_text_of_exactly_the_limit_and_emoji_loads(codebook, demo_registry) -> None:
    text_item = next(i for i in codebook.items if i.type == "text")
    limit = text_item.max_length or contract.TEXT_MAX_LENGTH
    checked = _check(
        {"r": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", text_item.code: "🙂" * limit}},
        codebook,
        demo_registry,
    )
    assert checked.failures.empty


def test_unknown_codes_name_each_new_code_once_per_response(codebook, demo_registry) -> None:
    checked = _check(
        {
            "a": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "sehr gut", "HF5_03": "a zz yy"},
            "b": {"source_id": "2", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "sehr gut"},
        },
        codebook,
        demo_registry,
    )
    codes = contract.unknown_codes(checked.failures, codebook)
    assert sorted(codes.itertuples(index=False, name=None)) == [
        ("a", "HF1_01", "sehr gut"),
        ("a", "HF5_03", "yy"),
        ("a", "HF5_03", "zz"),
        ("b", "HF1_01", "sehr gut"),
    ]


def test_the_committed_schema_is_what_the_codebook_derives(codebook) -> None:
    """schemas/contract/<version>.yaml is written by `pipeline schemas`; a codebook change without it fails here."""
    path = contract.schema_file(PROJECT / "schemas" / "contract", codebook)
    assert path.read_text(encoding="utf-8") == contract.schema_yaml(codebook, "chancencheck.yaml"), (
        "the codebook changed: run `pipeline schemas` and commit schemas/contract/"
    )
    written = pa.DataFrameSchema.from_yaml(path)
    derived = contract.schema(codebook)
    assert written.name == derived.name == f"chancencheck_lu@{codebook.latest_version}"
    frame = pd.DataFrame(
        {
            "source_id": ["1"],
            "submitted_at": [NOW],
            "wave": ["2025"],
            "instrument_version": ["2025.1"],
            "org_type": ["verwaltung"],
            "HF5_03": ["a zz"],
        }
    )
    with pytest.raises(pa.errors.SchemaErrors) as raised:
        written.validate(frame, lazy=True)
    assert raised.value.failure_cases["check"].tolist() == ["option not among a b c d e sonstiges"]


def test_a_new_answer_code_changes_the_written_schema(codebook) -> None:
    scale = codebook.scales["zustimmung5"]
    extended = scale.model_copy(update={"options": (*scale.options, Option(code="6", label="neu", value=6))})
    changed = codebook.model_copy(update={"scales": {**codebook.scales, "zustimmung5": extended}})
    assert contract.schema_yaml(changed, "chancencheck.yaml") != contract.schema_yaml(codebook, "chancencheck.yaml")


def test_pipeline_schemas_writes_and_checks(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PIPELINE_PROJECT_DIR", str(tmp_path))
    assert cli.main(["schemas", "--check"]) == 1
    assert cli.main(["schemas"]) == 0
    assert cli.main(["schemas", "--check"]) == 0
    assert [p.name for p in (tmp_path / "schemas" / "contract").glob("*.yaml")] == ["2026.1.yaml"]


def test_a_rejected_time_shows_the_value_as_sent(codebook, demo_registry) -> None:
    """The partner must see what it sent, not what the parser made of it."""
    checked = _check(
        {"r": {"source_id": "1", "submitted_at": "gestern 14 Uhr", "HF1_01": "3"}}, codebook, demo_registry
    )
    assert checked.failures.set_index("field")["value"].to_dict() == {
        "submitted_at": "gestern 14 Uhr",
        "wave": "gestern 14 Uhr",
    }
