"""The table design before suppression (disclosure/grouping.py): a group's figures are those of its respondents,
as the tests' own helper computes them from the answers, and the group is chosen as the method note says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.disclosure import cube, grouping
from pipeline.vocabulary import MERGED
from tests.publish.test_disclosure import Item, marts_from_answers

WAVES = ["2025", "2026"]
ITEMS = [
    Item("HF1_01"),
    Item("HF1_02"),
    Item("HF2_01", field="HF2"),
    Item("HF3_BIL_01", field="HF3", theme="BIL"),
    Item("P_MULTI", field=None, type="multi", options=[("a", None), ("b", None), ("c", None)]),
]
K = 5


def _answers(sizes: dict[str, dict[str, int]], seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random answers: per wave, organisation type and respondent, each item answered with probability 0.85."""
    rng = np.random.default_rng(seed)
    rows, texts = [], []
    for wave, types in sizes.items():
        for org_type, size in types.items():
            for person in range(size):
                respondent = f"{wave}-{org_type}-{person}"
                for item in ITEMS:
                    if rng.random() > 0.85:
                        continue
                    codes = [c for c, _ in item.options]
                    ticked = (
                        rng.choice(codes, size=rng.integers(1, 3), replace=False)
                        if item.type == "multi"
                        else [rng.choice(codes)]
                    )
                    rows += [(wave, org_type, respondent, item.code, str(code)) for code in ticked]
                if rng.random() < 0.3:
                    texts.append((wave, org_type, respondent, "HF1"))
    columns = ["wave", "org_type", "respondent", "item_code", "answer_code"]
    return pd.DataFrame(rows, columns=columns), pd.DataFrame(texts, columns=[*columns[:3], "field_code"])


def _grouped_answers(frame: pd.DataFrame, groups: grouping.Grouping) -> pd.DataFrame:
    inside = [org_type in groups.get(wave, []) for wave, org_type in zip(frame["wave"], frame["org_type"], strict=True)]
    return frame.assign(org_type=frame["org_type"].where(~np.array(inside, dtype=bool), MERGED))


def _same(got: pd.DataFrame, expected: pd.DataFrame, key: list[str], name: str) -> None:
    columns = [c for c in expected.columns if c in got.columns and not c.endswith("_label")]
    a = got[columns].sort_values(key).reset_index(drop=True)
    b = expected[columns].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_like=True, obj=name)


KEYS = {
    "item_distribution": ["wave", "org_type", "item_code", "answer_code"],
    "item_results": ["wave", "org_type", "item_code"],
    "field_results": ["wave", "org_type", "level", "field_code", "theme_code"],
    "free_text_counts": ["wave", "org_type", "field_code"],
}


@pytest.mark.parametrize("seed", range(5))
def test_a_groups_figures_are_those_of_its_respondents_answers(seed: int) -> None:
    """Two types below k (2 and 1 respondents, then 3 and 2) join the smallest other (6, then 7); the grouped
    marts equal the marts of the answers with those types relabelled, changes since 2025 included."""
    sizes = {
        "2025": {"klein": 2, "winzig": 1, "mittel": 6, "gross": 30, "riesig": 44},
        "2026": {"klein": 3, "winzig": 2, "mittel": 7, "gross": 31, "riesig": 40},
    }
    given, texts = _answers(sizes, seed)
    marts = marts_from_answers(given, ITEMS, texts, WAVES)

    groups = grouping.decide(marts, K, {})

    assert groups == {"2025": ["klein", "mittel", "winzig"], "2026": ["klein", "mittel", "winzig"]}
    got = grouping.apply(marts, groups)
    expected = marts_from_answers(_grouped_answers(given, groups), ITEMS, _grouped_answers(texts, groups), WAVES)
    for name, key in KEYS.items():
        _same(got[name], expected[name], key, name)
        assert not got[name]["org_type"].isin(["klein", "winzig", "mittel"]).any(), name
    cube.build(got)  # the grouped marts add up: every figure is the sum of its inner cells


def test_a_group_of_other_types_than_the_previous_waves_shows_no_change() -> None:
    """Where the group holds other types than in the previous wave, its change compares nothing like with like;
    so does a type's whose previous wave's row went into the group."""
    sizes = {
        "2025": {"klein": 2, "mittel": 6, "gross": 30},
        "2026": {"klein": 8, "mittel": 3, "gross": 31},
    }
    given, texts = _answers(sizes, 7)
    marts = marts_from_answers(given, ITEMS, texts, WAVES)

    groups = grouping.decide(marts, K, {})

    # 2026: "mittel" is small now; the previous wave's group ("klein", "mittel") has k together and is kept
    assert groups == {"2025": ["klein", "mittel"], "2026": ["klein", "mittel"]}
    changed = {"2025": ["klein", "mittel"], "2026": ["gross", "mittel"]}
    got = grouping.apply(marts, changed)
    results = got["item_results"]
    late = results[results["wave"] == "2026"]
    assert late.loc[late["org_type"] == MERGED, ["mean_change", "top2_change"]].isna().all().all()
    assert late.loc[late["org_type"] == MERGED, "previous_wave"].isna().all()
    assert late.loc[late["org_type"] == "klein", ["mean_change", "top2_change"]].isna().all().all()
    both = late[late["org_type"] == "insgesamt"]
    assert both["mean_change"].notna().any(), "the margin's changes stay"


def test_a_wave_published_before_keeps_its_group() -> None:
    sizes = {"2025": {"klein": 2, "mittel": 6, "gross": 30}, "2026": {"klein": 9, "mittel": 8, "gross": 31}}
    given, texts = _answers(sizes, 3)
    marts = marts_from_answers(given, ITEMS, texts, WAVES)

    assert grouping.decide(marts, K, {}) == {"2025": ["klein", "mittel"], "2026": []}
    kept = grouping.kept_grouping({"waves": [{"wave": "2026"}], "grouping": {"2026": ["klein", "mittel"]}})
    assert grouping.decide(marts, K, kept)["2026"] == ["klein", "mittel"]
    before_grouping = grouping.kept_grouping({"waves": [{"wave": "2025"}]})  # a release made before grouping
    assert grouping.decide(marts, K, before_grouping)["2025"] == []
