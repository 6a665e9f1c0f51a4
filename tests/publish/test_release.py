"""Releases end to end: the demo partners loaded from their emulators into a real DuckDB file, then published.

The loaded state is built once per module and copied for each test, so every test publishes into a fresh
data folder of its own.
"""

from __future__ import annotations

import re
import shutil
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest
import yaml

from pipeline import publish
from pipeline.context import Context
from pipeline.disclosure import grouping
from pipeline.load.ingest import ingest_partner
from pipeline.maintenance.erase import erase
from pipeline.publish import analyst, release, report
from pipeline.publish.release import PublishRefused
from pipeline.service.lock import writer_lock
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_testkit import demo
from pipeline_testkit.demo.bad_input import FILES_PARTNER
from tests.conftest import query
from tests.publish.test_disclosure import changes_disclosed

# A respondent key of these tests alone (see _load_demo): no secret, and never one of a real deployment.
TEST_RESPONDENT_KEY = "release-tests-respondent-key"

pytestmark = pytest.mark.e2e


def _load_demo(data_dir: Path, source: Path = demo.DEMO_REGISTRY) -> dict[str, str]:
    """Every demo partner pulled from its emulator and loaded; returns the environment the pipeline needs.

    The respondent key is fixed, not the demo's random one: the cell key method's noise follows the respondents'
    keys, and test_cell_key needs a release whose changes lie on both sides of their noise in every session."""
    settings = Settings(data_dir=data_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(settings.respondent_key_env, TEST_RESPONDENT_KEY)
        return _ingest_demo(settings, source)


def _ingest_demo(settings: Settings, source: Path) -> dict[str, str]:
    with demo.running(settings, source=source) as world, pytest.MonkeyPatch.context() as patch:
        for name, value in world.env.items():
            patch.setenv(name, value)
        loaded = Settings()
        for partner in world.registry.partners:
            ingest_partner(Context(loaded), partner.id, "setup")
        build_marts(Context(loaded))
        return dict(world.env)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("loaded") / "data"
    return data_dir, _load_demo(data_dir)


@pytest.fixture
def settings(loaded: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    source, env = loaded
    data_dir = tmp_path / "data"
    shutil.copytree(source, data_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data_dir))
    # the registry the demo wrote points at its (now stopped) emulators; publishing never contacts a partner
    monkeypatch.setenv("PIPELINE_PARTNERS_FILE", str(data_dir / Path(env["PIPELINE_PARTNERS_FILE"]).name))
    return Settings()


def test_a_release_holds_every_artefact_sealed_and_described_by_its_manifest(settings: Settings) -> None:
    outcome = publish.publish(Context(settings))

    assert outcome.new and outcome.release is not None
    made = release.current(settings)
    assert made is not None and made.id == outcome.release.id
    manifest = made.manifest
    assert [w["wave"] for w in manifest["waves"]] == ["2025", "2026"]
    assert manifest["instrument_versions"] == ["2025.1", "2026.1"]
    assert {p["partner_id"] for p in manifest["partners"]} == {p for p in demo.PLANS}
    assert manifest["audit"]["passed"] is True
    assert manifest["audit"]["primary"] > 0 and manifest["audit"]["secondary"] > 0
    narrowest = manifest["audit"]["narrowest"]
    assert set(narrowest) == {"cell", "lower", "upper"}, "the manifest is published: no hidden cell's true value"
    assert narrowest["upper"] - narrowest["lower"] >= settings.disclosure_min_interval
    names = {"item_distribution", "item_results", "field_results", "free_text_counts", "needs_ranking"}
    assert set(manifest["tables"]) == names
    for relative, facts in manifest["artefacts"].items():
        path = made.directory / relative
        assert release.sha256(path) == facts["sha256"], relative
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), f"{relative} is writable"
    expected = {publish.DUCKDB_FILE, publish.WORKBOOK, publish.REPORT, release.HIDDEN_CELLS}
    expected |= {f"tables/{n}.{ext}" for n in names for ext in ("parquet", "csv")}
    assert set(manifest["artefacts"]) == expected


def test_a_cell_is_hidden_the_same_way_in_the_duckdb_file_parquet_and_csv(settings: Settings) -> None:
    made = publish.publish(Context(settings)).release
    con = duckdb.connect(str(made.directory / publish.DUCKDB_FILE), read_only=True)
    try:
        from_duckdb = con.execute("select * from item_results").df()
        undocumented = con.execute(
            "select count(*) from duckdb_columns() where not internal and comment is null"
        ).fetchone()
    finally:
        con.close()
    parquet = pd.read_parquet(made.directory / "tables" / "item_results.parquet")
    csv = pd.read_csv(
        made.directory / "tables" / "item_results.csv", sep=";", decimal=",", encoding="utf-8-sig",
        keep_default_na=False, dtype=str,
    )  # fmt: skip
    assert undocumented == (0,)
    assert len(from_duckdb) == len(parquet) == len(csv)
    columns = ("n_answered", "n_valid", "mean", "top2_share", "mean_change")
    assert sum((parquet[f"{column}_status"] == ".").sum() for column in columns) > 10, "the demo hides cells"
    for column in columns:
        status = f"{column}_status"
        hidden = parquet[status] == "."
        assert parquet.loc[hidden, column].isna().all() and from_duckdb.loc[hidden, column].isna().all()
        assert (csv[status] == parquet[status].fillna("")).all()
        assert (csv.loc[hidden, column] == "").all()
    assert (
        pd.to_numeric(csv["mean"].str.replace(",", "."), errors="coerce").notna().sum() == parquet["mean"].notna().sum()
    )


def test_the_manifest_reports_what_the_protection_cost(settings: Settings) -> None:
    """Information loss per table and column, and the share of key figures published, recounted here from the
    published tables and the release's true figures."""
    made = publish.publish(Context(settings)).release
    loss = made.manifest["information_loss"]
    hidden_cells = set(made.hidden_cells())
    for name, columns in loss["cells"].items():
        table = pd.read_parquet(made.directory / "tables" / f"{name}.parquet")
        for column, counts in columns.items():
            status = table[f"{column}_status"].fillna("")
            assert counts["published"] == (status == "").sum(), (name, column)
            assert counts["primary"] + counts["secondary"] == (status == ".").sum(), (name, column)
    assert (
        sum(c["primary"] for cols in loss["cells"].values() for c in cols.values()) == made.manifest["audit"]["primary"]
    )
    assert len(hidden_cells) >= made.manifest["audit"]["primary"] + made.manifest["audit"]["secondary"]
    # the true figures of the published columns: small types grouped as the release grouped them
    kept = release.figures(settings, made.id)
    assert kept is not None
    true = kept["item_results"].loc[lambda r: r["item_type"] == "scale", ["wave", "org_type", "item_code", "n_valid"]]
    working = query(
        settings,
        "select wave, org_type, item_code, n_valid from marts.item_results where item_type = 'scale' "
        "order by wave, org_type, item_code",
    )
    margin = sorted(map(tuple, true[true["org_type"] == "insgesamt"].itertuples(index=False)))
    assert margin == [tuple(row) for row in working if row[1] == "insgesamt"], "kept figures are the working file's"
    published = pd.read_parquet(made.directory / "tables" / "item_results.parquet")
    means = true.merge(
        published[["wave", "org_type", "item_code", "mean_status"]], on=["wave", "org_type", "item_code"]
    )
    eligible = means[means["n_valid"] >= settings.disclosure_k]
    insgesamt = eligible[eligible["org_type"] == "insgesamt"]
    figures = loss["key_figures"]
    published_means = int(eligible["mean_status"].fillna("").eq("").sum())
    assert figures["item_means"] == {"groups": len(eligible), "published": published_means}
    assert figures["item_means_insgesamt"] == {
        "groups": len(insgesamt),
        "published": int(insgesamt["mean_status"].fillna("").eq("").sum()),
    }
    assert 0 < figures["field_means"]["published"] <= figures["field_means"]["groups"]
    per_type = {(row["wave"], row["org_type"]): row["item_means"] for row in figures["by_org_type"]}
    recounted = {
        (str(wave), org_type): {"groups": len(group), "published": int(group["mean_status"].fillna("").eq("").sum())}
        for (wave, org_type), group in eligible.groupby(["wave", "org_type"])
    }
    assert {key: counts for key, counts in per_type.items() if counts["groups"]} == recounted


def test_the_report_shows_multiple_choice_options_as_shares_of_published_counts(settings: Settings) -> None:
    made = publish.publish(Context(settings)).release
    html = (made.directory / publish.REPORT).read_text(encoding="utf-8")
    tables = {
        name: pd.read_parquet(made.directory / "tables" / f"{name}.parquet")
        for name in ("item_distribution", "item_results")
    }
    items = tables["item_results"]
    latest = items["wave"].max()
    multi = items[(items["item_type"] == "multi") & (items["wave"] == latest) & items["field_code"].notna()]
    assert len(multi), "the demo asks multiple-choice questions"
    options = tables["item_distribution"].merge(
        multi[["wave", "org_type", "item_code", "n_answered", "n_answered_status"]]
    )
    shown = options[(options["n_status"].fillna("") == "") & (options["n_answered_status"].fillna("") == "")]
    assert len(shown)
    for row in shown.itertuples():
        if row.n_answered:
            assert f"{100 * row.n / row.n_answered:.0f} %" in html
            assert f"({row.n} von {row.n_answered})" in html


def _overflowing_tables(report: Path, width: int, media: str) -> list[str]:
    """The captions of the report's tables wider than the page in Chromium at `width` CSS pixels."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.emulate_media(media=media)
            page.goto(report.as_uri())
            return page.evaluate(
                "() => [...document.querySelectorAll('.scroll')]"
                ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.querySelector('caption').innerText)"
            )
        finally:
            browser.close()


def test_the_reports_tables_fit_a_1280_px_screen_and_an_a4_landscape_page(settings: Settings) -> None:
    """The demo's seven organisation types side by side: no table scrolls sideways on a 1280 px screen, none
    is cut on A4 landscape (277 mm between the margins: 1,047 CSS pixels)."""
    report = publish.publish(Context(settings)).release.directory / publish.REPORT
    assert _overflowing_tables(report, 1280, "screen") == []
    assert _overflowing_tables(report, 1047, "print") == []


def test_nothing_new_makes_no_new_release(settings: Settings) -> None:
    first = publish.publish(Context(settings))
    again = publish.publish(Context(settings))

    assert first.new and not again.new
    assert again.release.id == first.release.id and "nothing new" in again.message
    assert [r.id for r in release.history(settings)] == [first.release.id]


def test_a_crash_while_building_leaves_the_previous_release_published(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = publish.publish(Context(settings)).release
    # new figures arrive (an operator changed k), and the report cannot be written this time
    monkeypatch.setenv("PIPELINE_DISCLOSURE_K", "6")

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(report, "write_report", broken)
    with pytest.raises(OSError, match="disk full"):
        publish.publish(Context.from_environment())

    assert release.current(settings).id == first.id
    assert {p.name for p in settings.releases_dir.iterdir()} == {first.id, release.CURRENT}, "no half-built folder"


def test_a_release_whose_audit_fails_is_refused_and_the_previous_stays(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = publish.publish(Context(settings)).release
    # a protection level no suppression pattern can give: every primary cell must stay wider than any count
    monkeypatch.setenv("PIPELINE_DISCLOSURE_MIN_INTERVAL", "100000")
    monkeypatch.setenv("PIPELINE_DISCLOSURE_K", "6")

    with pytest.raises(PublishRefused, match=f"release {first.id} stays published"):
        publish.publish(Context.from_environment())

    assert release.current(settings).id == first.id
    assert [r.id for r in release.history(settings)] == [first.id]


def test_stable_patterns_a_later_release_keeps_every_cell_hidden_before(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = publish.publish(Context(settings)).release
    monkeypatch.setenv("PIPELINE_DISCLOSURE_K", "3")  # lower k: fewer primary cells

    second = publish.publish(Context.from_environment()).release

    assert second.id != first.id and second.manifest["previous_release"] == first.id
    still = first.hidden_cells() & second.hidden_cells()
    assert still == first.hidden_cells(), "a cell hidden once stays hidden"


def _registry_with_wave_2026_open(settings: Settings, closes: str) -> None:
    data = yaml.safe_load(settings.partners_file.read_text(encoding="utf-8"))
    data["waves"][1]["closes"] = closes
    settings.partners_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_open_waves_are_not_published_and_a_closing_wave_brings_a_release(settings: Settings) -> None:
    _registry_with_wave_2026_open(settings, "2099-06-30")
    _refresh_reference(settings)

    first = publish.publish(Context(settings), "wave_closed")
    assert [w["wave"] for w in first.release.manifest["waves"]] == ["2025"]
    tables = pd.read_parquet(first.release.directory / "tables" / "item_results.parquet")
    assert set(tables["wave"]) == {"2025"}
    assert not publish.publish(Context(settings), "wave_closed").new

    _registry_with_wave_2026_open(settings, "2026-06-30")
    _refresh_reference(settings)
    closed = publish.publish(Context(settings), "wave_closed")
    assert closed.new and [w["wave"] for w in closed.release.manifest["waves"]] == ["2025", "2026"]


def test_open_waves_published_on_request_do_not_give_newcomers_away_between_releases(settings: Settings) -> None:
    """With open waves published, two releases side by side must not show what a few newcomers answered."""
    _registry_with_wave_2026_open(settings, "2099-06-30")
    _refresh_reference(settings)
    settings = settings.model_copy(update={"publish_open_waves": True})
    first = publish.publish(Context(settings))
    assert {w["wave"]: w["open"] for w in first.release.manifest["waves"]} == {"2025": False, "2026": True}
    _add_newcomers(settings, wave="2026", n=2)

    second = publish.publish(Context(settings))
    assert second.new and second.release.manifest["audited_with_release"] == first.release.id
    assert second.release.manifest["audit"]["passed"]
    cells = [r.manifest["audit"]["cells"] for r in (first.release, second.release)]
    assert cells[0] == cells[1], "the audit summary counts this release's cells, not the joint model's"
    before, after = _published_counts(first.release), _published_counts(second.release)
    grew = {key: after[key] - before[key] for key in before.keys() & after.keys() if after[key] != before[key]}
    assert 2 in grew.values(), "the newcomers show in the grand totals (how many answered since)"
    k = settings.disclosure_k
    small = {key: d for key, d in grew.items() if 0 < d < k and not _grand_total(key)}
    assert not small, f"what {len(small)} cells' newcomers answered can be read off two releases: {small}"
    page = (second.release.directory / publish.REPORT).read_text(encoding="utf-8")
    assert "Welle 2026 (vorläufig)" in page and "Laufende Welle" in page, "the steering group sees it is open"
    kept = sorted(p.name for p in (settings.data_dir / release.FIGURES).iterdir())
    assert kept == [second.release.id], "only the current release's true figures are kept, apart from it"


def test_a_wave_keeps_its_group_of_small_types_in_every_later_release(settings: Settings) -> None:
    """Newcomers lift the small type above k in the open wave; a fresh decision would publish it alone now, but
    the next release keeps the wave's "Weitere Organisationen" as the previous one had it: the type published
    apart would be the previous release's group minus the group's other types of this one."""
    _registry_with_wave_2026_open(settings, "2099-06-30")
    _refresh_reference(settings)
    settings = settings.model_copy(update={"publish_open_waves": True})
    first = publish.publish(Context(settings)).release
    grouped = first.manifest["grouping"]["2026"]
    assert "ehrenamt" in grouped and len(grouped) > 1
    truth_first = release.figures(settings, first.id)
    _add_newcomers(settings, wave="2026", n=4, org="ehrenamt")
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        marts = {name: con.execute(f"select * from marts.{name}").df() for name in publish.MARTS}
    finally:
        con.close()
    assert grouping.decide(marts, settings.disclosure_k, {})["2026"] == [], "no type of 2026 is small now"

    second = publish.publish(Context(settings)).release

    assert second.manifest["grouping"] == first.manifest["grouping"]
    assert second.manifest["audit"]["passed"] and second.manifest["audited_with_release"] == first.id
    # the four newcomers are in the group: no count of it may be proven to have grown by what they gave
    truth_second = release.figures(settings, second.id)
    found = changes_disclosed(_tables(first), truth_first, _tables(second), truth_second, settings.disclosure_k)
    assert found == [], f"{len(found)} changes show what the newcomers gave: {found[:5]}"
    for name, frame in _tables(second).items():
        apart = frame[(frame["wave"] == "2026") & frame["org_type"].isin(grouped)]
        assert apart.empty, f"{name}: {sorted(set(apart['org_type']))} published apart from the group"
        assert frame["org_type"].eq("weitere").any(), name


def test_a_closed_wave_changed_between_releases_gives_no_respondent_away(settings: Settings, tmp_path: Path) -> None:
    """Two late responses dropped into a files partner's folder after the wave closed, one response erased and
    one edited: the next release is audited with the previous one (without open waves), and an attacker with
    both releases proves no count's change as large as it is."""
    assert not settings.publish_open_waves
    first = publish.publish(Context(settings))
    truth_first = release.figures(settings, first.release.id)
    folder = _own_drop_folder(settings, tmp_path / "ablage")
    read = next(folder.rglob("ChancenCheckLU_Welle_2025_Export*.csv"))  # the connector archived it
    export = pd.read_csv(read, sep=";", dtype=str, keep_default_na=False)
    late = export.head(2).assign(**{"Antwort-ID": ["9201", "9202"]})  # late copies of two 2025 answers
    edited = export.iloc[[2]].copy()
    answer = next(c for c in export.columns if c.startswith("F1.1 "))
    edited[answer] = "keine Angabe" if edited[answer].iat[0] != "keine Angabe" else "weiß nicht"
    dropped = folder / "Nachlieferung_Welle_2025.csv"
    pd.concat([late, edited]).to_csv(dropped, sep=";", index=False, encoding="utf-8-sig")
    ingest_partner(Context(settings), FILES_PARTNER, "late")
    erase(Context(settings), FILES_PARTNER, export["Antwort-ID"].iat[3], "test")

    second = publish.publish(Context(settings))

    assert second.new and second.release.manifest["audited_with_release"] == first.release.id
    assert second.release.manifest["audit"]["passed"]
    truth_second = release.figures(settings, second.release.id)
    assert not truth_first["item_results"].equals(truth_second["item_results"]), "the closed wave changed"
    found = changes_disclosed(
        _tables(first.release), truth_first, _tables(second.release), truth_second, settings.disclosure_k
    )
    assert found == [], f"{len(found)} changes between the releases show what changed respondents gave: {found[:5]}"


def _own_drop_folder(settings: Settings, folder: Path) -> Path:
    """A copy of the files partner's folder for this test alone, named in its registry."""
    data = yaml.safe_load(settings.partners_file.read_text(encoding="utf-8"))
    [partner] = [p for p in data["partners"] if p["id"] == FILES_PARTNER]
    shutil.copytree(partner["connector"]["folder"], folder)
    partner["connector"]["folder"] = str(folder)
    settings.partners_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def _tables(made: release.Release) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(made.directory / "tables" / f"{name}.parquet") for name in publish.MARTS}


def _add_newcomers(settings: Settings, wave: str, n: int, org: str | None = None) -> None:
    """n new respondents in the organisation type (default: the wave's largest), copies of existing answers;
    marts rebuilt."""
    con = duckdb.connect(str(settings.db_path))
    try:
        org = (
            org
            or con.execute(
                "select org_type from core.responses where wave = ? group by 1 order by count(*) desc, 1 limit 1",
                [wave],
            ).fetchone()[0]
        )
        keys = con.execute(
            "select respondent_key from core.responses where wave = ? and org_type = ? order by 1 limit ?",
            [wave, org, n],
        ).fetchall()
        for i, (key,) in enumerate(keys):
            new = f"{key}-newcomer{i}"
            con.execute(
                "insert into core.responses select * replace (? as respondent_key, record_id || ? as record_id) "
                "from core.responses where respondent_key = ?",
                [new, f"-newcomer{i}", key],
            )
            con.execute(
                "insert into core.answers select * replace (? as respondent_key) from core.answers "
                "where respondent_key = ?",
                [new, key],
            )
    finally:
        con.close()
    build_marts(Context(settings))


def _published_counts(made: release.Release) -> dict[tuple[str, ...], float]:
    """Every count a release publishes, by table, wave, organisation type, item or field, and column."""
    tables = made.directory / "tables"
    out: dict[tuple[str, ...], float] = {}
    for table, what, columns in (
        ("item_distribution", ["item_code", "answer_code"], ["n"]),
        ("item_results", ["item_code"], ["n_answered", "n_valid"]),
        ("field_results", ["field_code", "theme_code"], ["n_respondents", "n_valid"]),
    ):
        frame = pd.read_parquet(tables / f"{table}.parquet")
        for column in columns:
            shown = frame[frame[f"{column}_status"] == ""]
            for row in shown[["wave", "org_type", *what, column]].itertuples(index=False):
                out[(table, *map(str, row[:-1]), column)] = float(row[-1])
    return out


def _grand_total(key: tuple[str, ...]) -> bool:
    return key[2] == "insgesamt" and key[-1] in {"n_respondents", "n_texts"}


def _refresh_reference(settings: Settings) -> None:
    from pipeline.load import loader as load

    ctx = Context(settings)
    con = ctx.connect()
    try:
        load.refresh_reference(con, ctx)
    finally:
        con.close()
    build_marts(ctx)


def test_analysts_read_their_file_while_a_run_writes(settings: Settings) -> None:
    analyst.refresh(Context(settings))
    reader = duckdb.connect(str(settings.analyst_db_path), read_only=True)
    before = reader.execute("select count(*) from core.responses").fetchone()[0]
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            con = duckdb.connect(str(settings.db_path))  # the pipeline's writer holds its working file
            try:
                gone = "select respondent_key from core.responses order by respondent_key limit 3"
                con.execute(f"delete from core.answers where respondent_key in ({gone})")
                con.execute(f"delete from core.responses where respondent_key in ({gone})")
            finally:
                con.close()
            build_marts(Context(settings))
            analyst.refresh(Context(settings))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    reads = 0
    while not done.is_set() and reads < 10_000:
        fresh = duckdb.connect(str(settings.analyst_db_path), read_only=True)
        try:
            assert fresh.execute("select count(*) from marts.item_results").fetchone()[0] > 0
        finally:
            fresh.close()
        assert reader.execute("select count(*) from core.responses").fetchone()[0] == before
        reads += 1
    writer.join(timeout=120)
    reader.close()
    assert not errors, errors
    assert reads > 0
    after = duckdb.connect(str(settings.analyst_db_path), read_only=True)
    try:
        assert after.execute("select count(*) from core.responses").fetchone()[0] == before - 3
    finally:
        after.close()


def test_the_analyst_file_documents_itself_and_holds_no_identifiers(settings: Settings) -> None:
    analyst.refresh(Context(settings))
    con = duckdb.connect(str(settings.analyst_db_path), read_only=True)
    try:
        relations = con.execute(
            "select schema_name || '.' || table_name, comment from duckdb_tables() "
            "union all select schema_name || '.' || view_name, comment from duckdb_views() where not internal"
        ).fetchall()
        columns = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() where not internal"
        ).df()
        labelled = con.execute(
            "select welle, organisationstyp, handlungsfeld, item, antwort from auswertung.antworten limit 1"
        ).fetchall()
    finally:
        con.close()
    assert {"core.responses", "marts.item_results", "auswertung.antworten"} <= {name for name, _ in relations}
    assert all(comment for _, comment in relations)
    assert columns["comment"].notna().all(), columns[columns["comment"].isna()]
    assert not {"source_id", "record_id", "record"} & set(columns["column_name"]), "no partner ids or payloads"
    core = columns[columns["schema_name"] == "core"]
    assert "answer_text" not in set(core["column_name"]), "free texts only scrubbed, in marts.free_texts"
    assert labelled and all(labelled[0][:2])


@pytest.fixture
def single_respondent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A world where one organisation type (the refugee initiative, "ehrenamt") has one response per wave."""
    monkeypatch.setitem(demo.PLANS, "fluechtlingshilfe-lu", {"2025": (1, 0), "2026": (1, 0)})
    data_dir = tmp_path / "single"
    env = _load_demo(data_dir)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield Settings()


def test_a_single_respondents_answers_cannot_be_read_from_any_artefact(single_respondent: Settings) -> None:
    """The respondent's type is published only within "Weitere Organisationen", a group of at least k, whose
    other types are not published alone; no subtraction of published columns gives a group smaller than k."""
    k = single_respondent.disclosure_k
    made = publish.publish(Context(single_respondent)).release
    assert made.manifest["audit"]["passed"] is True
    con = duckdb.connect(str(single_respondent.db_path), read_only=True)
    try:
        given = con.execute(
            "select wave, item_code, answer_code from marts.item_distribution where org_type = 'ehrenamt' and n > 0"
        ).df()
        label = con.execute("select org_type_label from core.org_types where org_type = 'ehrenamt'").fetchone()[0]
    finally:
        con.close()
    assert len(given) > 20, "the planted respondent answered"

    published = _published(made)
    true = release.figures(single_respondent, made.id)
    assert true is not None
    sizes = true["field_results"].groupby(["wave", "org_type"])["n_respondents"].max()
    grouping = made.manifest["grouping"]
    for wave in given["wave"].unique():
        members = grouping[wave]
        assert "ehrenamt" in members and sizes[(wave, "weitere")] >= k, f"{wave}: grouped {members}"
        for name, frame in published.items():
            alone = frame[(frame["wave"] == wave) & frame["org_type"].isin(members)]
            assert alone.empty, f"{name}: {sorted(set(alone['org_type']))} of {wave} published apart from the group"

    # by subtraction: the margin minus the other published columns gives the group, never fewer than k
    dist = published["item_distribution"]
    for wave, item, code in given.itertuples(index=False):
        column = dist[(dist["wave"] == wave) & (dist["item_code"] == item) & (dist["answer_code"] == code)]
        columns = set(column["org_type"]) - {"insgesamt"}
        assert columns <= {o for w, o in sizes.index if w == wave}
        assert all(sizes[(wave, o)] >= k for o in columns), f"{wave} {item} {code}: a column of fewer than k"

    report_html = (made.directory / publish.REPORT).read_text(encoding="utf-8")
    assert label in report_html, "the method note names the types the group stands for"
    _assert_no_figure_beside(made.directory / publish.WORKBOOK, label)
    _assert_no_figure_in_report_rows(made.directory / publish.REPORT, label)


def _published(made: release.Release) -> dict[str, pd.DataFrame]:
    """The published tables as every file of the release holds them (they must agree)."""
    con = duckdb.connect(str(made.directory / publish.DUCKDB_FILE), read_only=True)
    try:
        tables = {name: con.execute(f"select * from {name}").df() for name in publish.MARTS}
    finally:
        con.close()
    for name, frame in tables.items():
        parquet = pd.read_parquet(made.directory / "tables" / f"{name}.parquet")
        csv = pd.read_csv(
            made.directory / "tables" / f"{name}.csv", sep=";", encoding="utf-8-sig", keep_default_na=False, dtype=str
        )
        for status in [c for c in frame.columns if c.endswith("_status")]:
            assert (parquet[status].fillna("") == frame[status].fillna("")).all(), f"{name}.{status} (Parquet)"
            assert (csv[status] == frame[status].fillna("")).all(), f"{name}.{status} (CSV)"
            value = csv[status.removesuffix("_status")]
            assert (value[csv[status] != ""] == "").all(), f"{name}: a hidden value is written in the CSV"
        tables[name] = frame.assign(**{c: frame[c].fillna("") for c in frame.columns if c.endswith("_status")})
    return tables


def _assert_no_figure_beside(workbook: Path, label: str) -> None:
    """No sheet shows a number in a row or column headed by the organisation type's label."""
    book = openpyxl.load_workbook(workbook, read_only=True)
    for sheet in book.worksheets:
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        headed = [c for row in rows for c, value in enumerate(row) if value == label]
        for row in rows:
            if label in row:
                numbers = [v for v in row if isinstance(v, int | float) and not isinstance(v, bool)]
                assert not numbers, f"sheet {sheet.title}: {numbers} beside {label!r}"
        for column in set(headed):
            below = [row[column] for row in rows if column < len(row)]
            numbers = [v for v in below if isinstance(v, int | float) and not isinstance(v, bool)]
            assert not numbers, f"sheet {sheet.title}: {numbers} under {label!r}"


def _assert_no_figure_in_report_rows(report: Path, label: str) -> None:
    """Every table row of the report that names the organisation type shows marks, no figures."""
    html = report.read_text(encoding="utf-8")
    rows = [row for row in re.findall(r"<tr>(.*?)</tr>", html, flags=re.S) if label in row]
    for row in rows:
        cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        figures = [cell for cell in cells if re.search(r"\d", cell)]
        assert not figures, f"report row for {label!r} shows {figures}"


def test_build_folders_are_removed_as_stale_only_under_the_writer_lock(tmp_path: Path) -> None:
    """Every publication builds under the writer lock: a build folder seen without it may be a live build."""
    settings = Settings(data_dir=tmp_path / "data")
    folder = settings.releases_dir / ".building-20260101T000000Z"
    (folder / "tables").mkdir(parents=True)

    assert release.remove_stale_builds(settings) == []
    assert folder.is_dir()
    with writer_lock(settings.db_path, "publish", 1):
        assert release.remove_stale_builds(settings) == [folder]
    assert not folder.exists()
