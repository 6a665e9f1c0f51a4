"""Disclosure control on hand-made tables whose safe answer is known."""

from __future__ import annotations

import pandas as pd

from pipeline.publish.disclosure import HIDDEN, protect

SCALE = [("1", 1.0), ("2", 2.0), ("3", 3.0), ("4", 4.0), ("5", 5.0), ("wn", None), ("ka", None)]


def _tables(groups: dict[tuple[str, str, str], list[int]], k: int = 5):
    """groups: (wave, org_type, item) → counts for the codes 1..5, wn, ka."""
    dist, results = [], []
    for (wave, org, item), counts in groups.items():
        for (code, value), n in zip(SCALE, counts, strict=True):
            dist.append(
                {
                    "wave": wave,
                    "org_type": org,
                    "item_code": item,
                    "answer_code": code,
                    "answer_value": value,
                    "n": n,
                }
            )
        valid = counts[:5]
        n_valid = sum(valid)
        mean = sum((i + 1) * c for i, c in enumerate(valid)) / n_valid if n_valid else None
        top2 = (valid[3] + valid[4]) / n_valid if n_valid else None
        results.append({"wave": wave, "org_type": org, "item_code": item, "n_answered": sum(counts),
                        "n_valid": n_valid, "mean": mean, "top2_share": top2})  # fmt: skip
    fields = pd.DataFrame([{"wave": "2025", "org_type": "x", "field_code": "HF1", "n_respondents": 3, "n_valid": 3,
                            "mean": 2.0, "top2_share": 0.0}])  # fmt: skip
    return protect(pd.DataFrame(results), pd.DataFrame(dist), fields, k)


def _hidden_codes(protected, item: str) -> set[str]:
    d = protected.item_distribution
    return set(d.loc[(d["item_code"] == item) & (d["status"] == HIDDEN), "answer_code"])


def test_a_group_below_k_is_hidden_whole() -> None:
    p = _tables({("2025", "ehrenamt", "A"): [1, 0, 2, 1, 0, 0, 0]})
    assert _hidden_codes(p, "A") == {c for c, _ in SCALE}
    row = p.item_results.iloc[0]
    assert pd.isna(row["n_answered"]) and pd.isna(row["mean"]) and row["status"] == HIDDEN


def test_a_lone_small_count_gets_a_partner_so_the_total_cannot_give_it_back() -> None:
    p = _tables({("2025", "verwaltung", "A"): [2, 9, 12, 15, 10, 0, 0]})
    hidden = _hidden_codes(p, "A")
    assert "1" in hidden and len(hidden) == 2
    assert "wn" not in hidden and "ka" not in hidden, "zeros protect nothing"
    assert hidden == {"1", "2"}, "the smallest non-zero partner on the scale"
    row = p.item_results.iloc[0]
    assert row["n_answered"] == 48, "the total stays: it is the sum of two hidden and published counts"
    assert pd.isna(row["mean"]) and pd.isna(row["n_valid"]) and pd.isna(row["top2_share"])


def test_a_small_dont_know_is_paired_off_the_scale_and_the_mean_stays() -> None:
    p = _tables({("2025", "verwaltung", "A"): [6, 9, 12, 15, 10, 2, 7]})
    assert _hidden_codes(p, "A") == {"wn", "ka"}
    row = p.item_results.iloc[0]
    assert row["n_valid"] == 52 and row["mean"] == (6 + 18 + 36 + 60 + 50) / 52 and row["status"] == ""


def test_two_small_counts_protect_each_other() -> None:
    p = _tables({("2025", "verwaltung", "A"): [3, 4, 12, 15, 10, 0, 0]})
    assert _hidden_codes(p, "A") == {"1", "2"}


def test_nothing_is_hidden_where_every_count_is_safe() -> None:
    p = _tables({("2025", "verwaltung", "A"): [5, 9, 12, 15, 10, 0, 0]})
    assert _hidden_codes(p, "A") == set()
    assert p.item_results.iloc[0]["status"] == ""


def test_every_published_count_is_zero_or_at_least_k() -> None:
    groups = {
        ("2025", f"o{i}", f"I{j}"): [(i * 7 + j * 3 + c) % 11 for c in range(7)] for i in range(6) for j in range(8)
    }
    p = _tables(groups)
    shown = p.item_distribution["n"].dropna()
    assert ((shown == 0) | (shown >= 5)).all()
    hidden_per_group = (
        p.item_distribution[p.item_distribution["status"] == HIDDEN].groupby(["org_type", "item_code"]).size()
    )
    assert (hidden_per_group != 1).all(), "no group hides exactly one count"


def test_a_handlungsfeld_below_k_is_hidden() -> None:
    fields = _tables({("2025", "x", "A"): [5, 9, 12, 15, 10, 0, 0]}).field_results
    assert pd.isna(fields.iloc[0]["n_respondents"]) and pd.isna(fields.iloc[0]["mean"])
