"""Mapping and validation of one batch, on frames shaped as the loader hands them over."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from pipeline import contract
from pipeline.codebook import Codebook
from pipeline.registry import Registry

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _batch(rows: dict[str, dict], codebook: Codebook, registry: Registry, recode=None, tz="UTC") -> pd.DataFrame:
    """rows: record_id → {"source_id", "submitted_at", item_code: value, ...}"""
    meta = pd.DataFrame(
        [
            {"record_id": r, "source_id": v.get("source_id"), "submitted_at": v.get("submitted_at")}
            for r, v in rows.items()
        ]
    )
    long = pd.DataFrame(
        [
            {"record_id": r, "item_code": k, "value": x}
            for r, v in rows.items()
            for k, x in v.items()
            if k not in ("source_id", "submitted_at")
        ],
        columns=["record_id", "item_code", "value"],
    )
    return contract.shape(meta, long, recode or {}, codebook, registry.wave_windows(), tz, "Europe/Berlin")


def _check(rows, codebook, registry, **kw) -> contract.Checked:
    return contract.validate(_batch(rows, codebook, registry, **kw), contract.schema(codebook), NOW)


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
    recode = {"zustimmung5": {"98": "wn", "99": "ka"}}
    checked = _check(
        {"r": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00", "HF1_01": "98"}},
        codebook,
        demo_registry,
        recode=recode,
    )
    assert checked.failures.empty and checked.valid.loc["r", "HF1_01"] == "wn"


def test_times_without_offset_are_read_in_the_tools_time_zone(codebook, demo_registry) -> None:
    frame = _batch(
        {"r": {"source_id": "1", "submitted_at": "2025-04-02 09:00:00"}},
        codebook,
        demo_registry,
        tz="Europe/Berlin",
    )
    assert frame.loc["r", "submitted_at"] == pd.Timestamp("2025-04-02T07:00:00Z")


def test_answers_are_long_with_one_row_per_ticked_option(codebook, demo_registry) -> None:
    text_item = next(i for i in codebook.items if i.type == "text")
    checked = _check(
        {
            "r": {
                "source_id": "1",
                "submitted_at": "2025-04-02T09:00:00",
                "HF1_01": "2",
                "HF5_03": "a c",
                text_item.code: "Mehr einfache Sprache 🙏",
            }
        },
        codebook,
        demo_registry,
    )
    answers = contract.answers(checked.valid, codebook).astype(object)
    answers = answers.where(answers.notna(), None)
    got = sorted(answers.itertuples(index=False, name=None), key=str)
    assert got == sorted(
        [
            ("r", "HF1_01", "2", None),
            ("r", "HF5_03", "a", None),
            ("r", "HF5_03", "c", None),
            ("r", text_item.code, None, "Mehr einfache Sprache 🙏"),
        ],
        key=str,
    )


def test_mixed_offsets_and_naive_times_are_all_read(codebook, demo_registry) -> None:
    frame = _batch(
        {
            "a": {"source_id": "1", "submitted_at": "2025-04-02T09:00:00+02:00"},
            "b": {"source_id": "2", "submitted_at": "2025-04-02T09:00:00Z"},
            "c": {"source_id": "3", "submitted_at": "2025-04-02T09:00:00"},
        },
        codebook,
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
        codebook,
        demo_registry,
    )
    assert frame["wave"].tolist() == ["2025", "2025", None]
