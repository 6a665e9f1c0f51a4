"""The cell key method as the alternative to suppression: its perturbation table keeps what the method note
promises, and a release made with it publishes every key figure, never a count below k, never a small count
as it is, and the same noise for the same respondents in the next release."""

from __future__ import annotations

import re

import duckdb
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from pipeline import publish
from pipeline.context import Context
from pipeline.disclosure.cell_key import KEY_RANGE, PTable
from pipeline.publish.release import Release
from pipeline.settings import Settings
from tests.publish.test_release import _add_newcomers, _published, loaded, settings, single_respondent

__all__ = ["loaded", "settings", "single_respondent"]  # fixtures of test_release, used here too

K = 5


def _distribution(table: PTable, n: int) -> dict[int, float]:
    """The published values of a true count n and their probabilities, over every cell key."""
    keys = np.arange(KEY_RANGE) / KEY_RANGE
    values, counts = np.unique(table.perturb(np.full(KEY_RANGE, n), keys), return_counts=True)
    return dict(zip(values.tolist(), (counts / KEY_RANGE).tolist(), strict=True))


@pytest.mark.parametrize(("k", "deviation", "variance"), [(5, 2, 1.0), (3, 1, 0.5), (10, 3, 2.0), (5, 2, 2.5)])
def test_the_perturbation_table_keeps_the_promises_of_the_method_note(k: int, deviation: int, variance: float) -> None:
    table = PTable(k, deviation, variance)
    for n in range(0, k + 2 * deviation + 3):
        published = _distribution(table, n)
        mean = sum(v * p for v, p in published.items())
        assert mean == pytest.approx(n, abs=1e-4), f"{n}: biased, expected value {mean}"
        assert not [v for v in published if 0 < v < k], f"{n}: published below k: {published}"
        if n == 0:
            assert published == {0: 1.0}
        elif n < k:
            assert set(published) == {0, k}, f"{n} must appear as 0 or k: {published}"
        else:
            assert all(abs(v - n) <= deviation for v in published), f"{n}: deviates by more than {deviation}"
        if n >= k + deviation:
            spread = sum((v - n) ** 2 * p for v, p in published.items())
            assert spread == pytest.approx(variance, abs=1e-3), f"{n}: variance {spread}"


def test_a_variance_the_deviation_cannot_carry_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="variance of 3.5 is more than a maximum deviation of 2 allows"):
        PTable(5, 2, 3.5)
    monkeypatch.setenv("PIPELINE_CELL_KEY_MAX_DEVIATION", "2")
    monkeypatch.setenv("PIPELINE_CELL_KEY_VARIANCE", "3.5")
    with pytest.raises(ValidationError, match="at most 2.5"):
        Settings()


def _true(settings: Settings, table: str, columns: list[str]) -> pd.DataFrame:
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        return con.execute(f"select {', '.join(columns)} from marts.{table}").df()
    finally:
        con.close()


def _cell_key_release(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Release:
    monkeypatch.setenv("PIPELINE_DISCLOSURE_METHOD", "cell_key")
    outcome = publish.publish(Context(Settings()))
    assert outcome.new and outcome.release is not None
    return outcome.release


def test_a_cell_key_release_publishes_every_key_figure_and_no_count_below_k(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _cell_key_release(settings, monkeypatch)

    manifest = made.manifest
    assert manifest["disclosure"]["method"] == "cell_key"
    assert manifest["audit"]["passed"] and manifest["audit"]["secondary"] == 0
    figures = manifest["information_loss"]["key_figures"]
    for name in ("item_means", "item_means_insgesamt", "field_means"):
        assert figures[name]["published"] == figures[name]["groups"] > 0, name
    published = _published(made)
    key = ["wave", "org_type", "item_code", "answer_code"]
    dist = published["item_distribution"].merge(
        _true(settings, "item_distribution", [*key, "n as true_n"]), on=key, validate="one_to_one"
    )
    shown = dist[dist["n_status"] == ""]
    n, true = shown["n"].astype(int), shown["true_n"].astype(int)
    assert not ((n > 0) & (n < K)).any(), "a count below k is published"
    small = (true > 0) & (true < K)
    assert small.any() and not (n[small] == true[small]).any(), "a small count is published as it is"
    assert set(n[small]) <= {0, K}
    large = true >= K + 2
    assert (abs(n[large] - true[large]) <= 2).all() and (n[large] != true[large]).any(), "noise within ±2"
    # the rest is computed from the published counts: an analyst recomputing them gets the same
    results = published["item_results"]
    scale = results[(results["item_type"] == "scale") & (results["mean_status"] == "")]
    shown_scale = shown[shown["answer_value"].notna()].assign(weighted=lambda f: f["n"] * f["answer_value"])
    sums = shown_scale.groupby(["wave", "org_type", "item_code"])[["n", "weighted"]].sum()
    check = scale.join(sums, on=["wave", "org_type", "item_code"])
    assert (check["n_valid"] == check["n"]).all()
    assert np.allclose(check["mean"], check["weighted"] / check["n"])
    # only groups of fewer than k are hidden, whole
    hidden = published["item_results"][published["item_results"]["n_answered_status"] == "."]
    assert set(hidden["org_type"]) == {"ehrenamt"}
    report = (made.directory / publish.REPORT).read_text(encoding="utf-8")
    assert "Cell-Key-Verfahren" in report and "Geheimhaltung, sekundär" not in report
    assert "Zu jeder Zahl stehen mindestens" not in report, "the report promises what the method does not"


def test_the_same_respondents_carry_the_same_noise_into_the_next_release(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consistency is what makes comparing releases useless to an attacker: a count whose respondents did not
    change is published the same; one that did gets a new draw."""
    first = _published(_cell_key_release(settings, monkeypatch))
    _add_newcomers(settings, "2025", 3)
    second = _published(_cell_key_release(settings, monkeypatch))

    key = ["wave", "org_type", "item_code", "answer_code"]
    both = first["item_distribution"].merge(second["item_distribution"], on=key, suffixes=("_1", "_2"))
    both = both[(both["n_status_1"] == "") & (both["n_status_2"] == "")]
    moved = both[both["n_1"] != both["n_2"]]
    assert set(moved["wave"]) == {"2025"} and len(moved) > 10, "the newcomers' counts get new draws"
    [newcomers_type] = set(moved["org_type"]) - {"insgesamt"}
    steady = both[~both["org_type"].isin(["insgesamt", newcomers_type])]
    assert len(steady) > 1000 and (steady["n_1"] == steady["n_2"]).all()


def test_a_single_respondent_is_hidden_whole_under_the_cell_key_method(
    single_respondent: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _cell_key_release(single_respondent, monkeypatch)

    assert made.manifest["audit"]["passed"]
    for name, frame in _published(made).items():
        own = frame[frame["org_type"] == "ehrenamt"]
        assert len(own), name
        for status in [c for c in frame.columns if c.endswith("_status")]:
            assert (own[status] != "").all(), f"{name}.{status} of the single respondent is shown"


def test_an_arrow_marks_only_changes_larger_than_the_noise_in_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the cell key method a change of 0.3 or more is marked ▲ ▼ only where it is at least twice the
    standard deviation the noise puts into it: each of an item's five answer counts moves by noise of variance
    V, and a count's noise d moves the mean by (value - mean) * d / n_valid, in both waves."""
    made = _cell_key_release(settings, monkeypatch)
    html = (made.directory / publish.REPORT).read_text(encoding="utf-8")
    items = pd.read_parquet(made.directory / "tables" / "item_results.parquet")
    variance = settings.cell_key_variance

    def sd(mean: float, n_valid: float) -> float:
        return float(np.sqrt(variance * sum((value - mean) ** 2 for value in range(1, 6)))) / n_valid

    before = items[items["wave"] == "2025"].set_index(["org_type", "item_code"])
    latest = items[(items["wave"] == "2026") & (items["mean_change_status"] == "") & items["mean_change"].notna()]
    # the report's item tables: a row per item, after code, wording and kind a cell per type, "Insgesamt" first
    shown_types = items[items["wave"] == "2026"].drop_duplicates("org_type").set_index("org_type")
    labels = shown_types["org_type_label"].drop("insgesamt")
    columns = ["insgesamt", *labels.sort_values().index]
    rows = re.findall(r'<tr><td class="code">([^<]+)</td>(.*?)</tr>', html, flags=re.S)
    scale_rows = [(code, re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)) for code, row in rows]
    scale_rows = [(code, found) for code, found in scale_rows if found[1] == "Skala"]
    cells = {code: found[2:] for code, found in scale_rows}
    assert len(cells) == len(scale_rows) > 40, "a row per scale item"
    marked, within_noise = [], []
    for row in latest[latest["mean_change"].abs() >= 0.3].itertuples():
        old = before.loc[(row.org_type, row.item_code)]
        noise = np.hypot(sd(row.mean, row.n_valid), sd(old["mean"], old["n_valid"]))
        cell = cells[row.item_code][columns.index(row.org_type)]
        arrow = "▲" in cell or "▼" in cell
        (marked if abs(row.mean_change) >= 2 * noise else within_noise).append((row.item_code, row.org_type, arrow))
    assert marked and within_noise, "the demo has changes of 0.3 and more on both sides of their noise"
    assert all(arrow for *_, arrow in marked), [m for m in marked if not m[2]]
    assert not any(arrow for *_, arrow in within_noise), [m for m in within_noise if m[2]]
    assert "mindestens doppelt so groß wie die Streuung" in html
