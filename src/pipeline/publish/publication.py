"""Publishing a release: the closed waves' marts, protected (disclosure.py), written as every artefact and
switched to atomically (release.py). The package docstring (pipeline.publish) says what a release is."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from pipeline import db
from pipeline.context import Context
from pipeline.disclosure import cell_key, grouping
from pipeline.disclosure.protection import Level, Protection, protect
from pipeline.publish import analyst, release
from pipeline.publish.documentation import document
from pipeline.publish.release import PublishRefused, Release
from pipeline.service.lock import Writer, file_writer
from pipeline.settings import Settings
from pipeline.transform.marts import MartsBuild, build_marts
from pipeline.vocabulary import HIDDEN, MARTS, NOT_APPLICABLE

DUCKDB_FILE = "chancencheck.duckdb"
WORKBOOK = "ChancenCheckLU_Lenkungskreis.xlsx"
REPORT = "ChancenCheckLU_Bericht.html"

# When to make a new release: "changed" when the closed waves' figures differ from the current release (the
# nightly run, an operator's `pipeline publish`); "wave_closed" only when a wave closed since then (runs on
# partner events, which mostly bring answers to the open wave).
When = Literal["changed", "wave_closed"]


@dataclass(frozen=True)
class Publication:
    release: Release | None
    new: bool
    message: str


@dataclass(frozen=True)
class Refreshed:
    """What publishing after a load made: the marts' waves rebuilt, the analyst file and the steering release."""

    marts: MartsBuild
    analyst_file: Path
    publication: Publication

    @property
    def message(self) -> str:
        return f"{self.marts}; analyst file {self.analyst_file}; {self.publication.message}"


def publish_all(ctx: Context, when: When = "changed", writer: Writer | None = None) -> Refreshed:
    """Everything downstream of core, in order: the marts, the analyst file from them, a release from them.

    Each step holds the right to write on its own (writer, the file lock by default), so a partner's batch may
    load between two of them; a step reads what the one before it committed.
    """
    hold = writer or file_writer(ctx.settings)
    with hold("rebuild the marts"):
        marts = build_marts(ctx)
    with hold("refresh the analyst file"):
        analyst_file = analyst.refresh(ctx)
    with hold("publish a release"):
        outcome = publish(ctx, when)
    return Refreshed(marts, analyst_file, outcome)


@dataclass(frozen=True)
class _Inputs:
    marts: dict[str, pd.DataFrame]
    waves: pd.DataFrame
    partners: pd.DataFrame


def publish(ctx: Context, when: When = "changed") -> Publication:
    """Build, audit and switch to a new release if there is something new; the caller holds the writer lock."""
    settings = ctx.settings
    release.remove_stale_builds(settings)
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    con = ctx.connect()
    try:
        inputs = _inputs(con, today, settings.publish_open_waves)
    finally:
        con.close()
    previous = release.current(settings)
    if inputs.waves.empty:
        return Publication(previous, False, f"nothing to publish: no wave has {_state(settings)} by {today:%d.%m.%Y}")
    fingerprint = _fingerprint(inputs, settings)
    if previous is not None:
        if previous.manifest.get("input_sha256") == fingerprint:
            return Publication(previous, False, f"nothing new since release {previous.id}; it stays current")
        closed_then = {w["wave"] for w in previous.manifest.get("waves", []) if not w.get("open", False)}
        if when == "wave_closed" and set(inputs.waves.loc[~inputs.waves["open"], "wave"]) <= closed_then:
            return Publication(previous, False, f"no wave closed since release {previous.id}; it stays current")
    # an attacker holds this release and the previous one, and whatever changed between them (newcomers to an
    # open wave, late responses, edits and erasures in a closed one) is what a few respondents gave: both are
    # audited together whenever the previous release's true figures were kept
    jointly = release.figures(settings, previous.id) if previous and not _perturbed(settings) else None
    groups = _grouping(inputs.marts, settings, previous)
    marts = grouping.apply(inputs.marts, groups)
    protection = _protect(marts, settings, previous, jointly)
    keeps = f"release {previous.id} stays published" if previous else "nothing is published"
    if not protection.audit.passed:
        failures = "; ".join(protection.audit.failures[:5])
        raise PublishRefused(
            f"release refused: the disclosure audit found {len(protection.audit.failures)} cells not protected "
            f"({failures}); {keeps}"
        )
    release_id = release.new_id(settings)
    manifest = _manifest(release_id, fingerprint, inputs, settings, protection, previous)
    manifest["audited_with_release"] = previous.id if jointly is not None else None
    manifest["grouping"] = groups
    release.keep_figures(settings, release_id, marts)
    with release.building(settings, release_id) as folder:
        tables = _write_duckdb(settings, folder / DUCKDB_FILE, protection.tables)
        _write_tables(folder / "tables", tables)
        (folder / release.HIDDEN_CELLS).write_text("\n".join(sorted(protection.hidden_cells)) + "\n", encoding="utf-8")
        meta = _meta(manifest, inputs, settings.timezone) | {"grouped": grouping.labels(inputs.marts, groups)}
        _write_for_the_steering_group(tables, meta, folder)
        manifest["tables"] = {name: _table_counts(frame) for name, frame in tables.items()}
        made = release.switch(settings, folder, release_id, manifest)
    release.forget_figures(settings, keep=made.id)
    line = _audit_line(protection.audit.summary(), settings)
    return Publication(made, True, f"release {made.id} published ({line})")


def _grouping(marts: dict[str, pd.DataFrame], settings: Settings, previous: Release | None) -> grouping.Grouping:
    """Small organisation types published together, as the previous release did for the waves it published
    (disclosure/grouping.py); the cell key method publishes every type, each count with its noise."""
    if _perturbed(settings):
        return {}
    kept = grouping.kept_grouping(previous.manifest if previous else None)
    return grouping.decide(marts, settings.disclosure_k, kept)


def _perturbed(settings: Settings) -> bool:
    return settings.disclosure_method == "cell_key"


def _protect(
    marts: dict[str, pd.DataFrame],
    settings: Settings,
    previous: Release | None,
    jointly: dict[str, pd.DataFrame] | None,
) -> Protection | cell_key.Perturbed:
    """The published tables by the method the settings name: suppression, audited with the previous release,
    or the cell key method (whose noise is the same for the same respondents in every release)."""
    if _perturbed(settings):
        return cell_key.protect(
            marts,
            settings.disclosure_k,
            settings.cell_key_max_deviation,
            settings.cell_key_variance,
            settings.disclosure_group_rule,
        )
    return protect(
        marts,
        settings.disclosure_k,
        previous_hidden=previous.hidden_cells() if previous else None,
        group_rule=settings.disclosure_group_rule,
        level=_level(settings),
        previous_marts=jointly,
        previous_k=previous.manifest.get("disclosure", {}).get("k") if previous else None,
    )


def _state(settings: Settings) -> str:
    return "opened" if settings.publish_open_waves else "closed"


def _inputs(con: duckdb.DuckDBPyConnection, today: object, open_waves: bool) -> _Inputs:
    """The waves to publish (closed ones; with open waves, every wave that has opened) and their marts."""
    chosen = f"select wave from core.waves where {'opens <= ?' if open_waves else 'closes < ?'}"
    waves = con.execute(
        "select wave, wave_label, instrument_version, closes, closes >= ? as open from core.waves "
        f"where wave in ({chosen}) order by opens",
        [today, today],
    ).df()
    marts = {name: con.execute(f"select * from marts.{name} where wave in ({chosen})", [today]).df() for name in MARTS}
    partners = con.execute(
        f"""
        select partner_id, max(submitted_at) as latest_submission
        from core.responses
        where wave in ({chosen})
        group by partner_id
        order by partner_id
        """,
        [today],
    ).df()
    return _Inputs(marts, waves, partners)


def _fingerprint(inputs: _Inputs, settings: Settings) -> str:
    """What a release is made of: the closed waves' figures and the disclosure settings, in a stable order."""
    digest = hashlib.sha256(repr(_disclosure(settings)).encode())
    for name in MARTS:
        frame = inputs.marts[name]
        ordered = frame.sort_values(list(frame.columns), na_position="first").reset_index(drop=True)
        digest.update(name.encode())
        digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _write_for_the_steering_group(tables: dict[str, pd.DataFrame], meta: dict[str, Any], folder: Path) -> None:
    """The workbook and the report. Their modules are imported here, not at the top: the disclosure control's
    worker processes import this package, and the charts (matplotlib) and the workbook cost each a second."""
    from pipeline.publish.report import write_report
    from pipeline.publish.workbook import write_workbook

    write_workbook(tables, meta, folder / WORKBOOK)
    write_report(tables, meta, folder / REPORT)


def _manifest(
    release_id: str,
    fingerprint: str,
    inputs: _Inputs,
    settings: Settings,
    protection: Any,
    previous: Release | None,
) -> dict[str, Any]:
    return {
        "release_id": release_id,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "previous_release": previous.id if previous else None,
        "input_sha256": fingerprint,
        "instrument_versions": sorted(inputs.waves["instrument_version"].unique().tolist()),
        "waves": [
            {"wave": w.wave, "wave_label": w.wave_label, "closes": str(w.closes), "open": bool(w.open)}
            for w in inputs.waves.itertuples(index=False)
        ],
        "partners": [
            {"partner_id": p.partner_id, "latest_submission": p.latest_submission.isoformat()}
            for p in inputs.partners.itertuples(index=False)
        ],
        "disclosure": _disclosure(settings),
        "audit": protection.audit.summary(),
        "information_loss": protection.information_loss,
    }


def _level(settings: Settings) -> Level:
    return Level(upper=settings.disclosure_upper_margin, width=settings.disclosure_min_interval)


def _disclosure(settings: Settings) -> dict[str, Any]:
    method: dict[str, Any] = {"method": settings.disclosure_method}
    if _perturbed(settings):
        method |= {"max_deviation": settings.cell_key_max_deviation, "variance": settings.cell_key_variance}
    return {
        **method,
        "k": settings.disclosure_k,
        "group_rule": settings.disclosure_group_rule,
        "upper_margin": settings.disclosure_upper_margin,
        "min_interval": settings.disclosure_min_interval,
        "open_waves": settings.publish_open_waves,
    }


def _meta(manifest: dict[str, Any], inputs: _Inputs, timezone: str) -> dict[str, Any]:
    """What the workbook and the report say about the release they belong to; times in the city's zone."""
    return {
        "release_id": manifest["release_id"],
        "published_at": manifest["published_at"],
        "timezone": timezone,
        "disclosure_k": manifest["disclosure"]["k"],
        "disclosure": manifest["disclosure"],
        "waves": [
            {"wave": w["wave"], "wave_label": w["wave_label"] + (" (vorläufig)" if w["open"] else "")}
            for w in manifest["waves"]
        ],
        "open_waves": [w["wave"] for w in manifest["waves"] if w["open"]],
        "instrument_versions": manifest["instrument_versions"],
        "partners": len(inputs.partners),
        "audit": manifest["audit"],
    }


def _write_duckdb(settings: Settings, path: Path, protected: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The release's DuckDB file: the published tables only, plus the needs ranked from their published means.

    Returns every table of the file, so the other artefacts are made from exactly what it holds.
    """
    con = db.create_portable(path)
    try:
        for name, frame in protected.items():
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")
        db.run(con, settings.sql_dir, "publish/needs_ranking")
        document(con, settings.documentation_file)
        names = [row[0] for row in con.execute("select table_name from duckdb_tables() order by 1").fetchall()]
        tables = {name: con.execute(f"select * from {name}").df() for name in names}
        con.execute("checkpoint")
    finally:
        con.close()
    return tables


def _write_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    folder.mkdir()
    for name, frame in tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
        _german_csv(frame, folder / f"{name}.csv")


def _german_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV as German Excel opens it without a wizard: UTF-8 with BOM, ';' separators, decimal commas."""
    frame.to_csv(path, sep=";", decimal=",", encoding="utf-8-sig", index=False, float_format="%.4f")


def _table_counts(frame: pd.DataFrame) -> dict[str, int]:
    statuses = frame[[c for c in frame.columns if c.endswith("_status")]]
    return {
        "rows": len(frame),
        "hidden_cells": int((statuses == HIDDEN).to_numpy().sum()),
        "not_applicable_cells": int((statuses == NOT_APPLICABLE).to_numpy().sum()),
    }


def _audit_line(summary: dict[str, Any], settings: Settings) -> str:
    verdict = "passed" if summary.get("passed") else "FAILED"
    if _perturbed(settings):
        return (
            f"{summary.get('cells')} cells, every count perturbed by the cell key method, {summary.get('primary')} "
            f"hidden in groups of fewer than k, audit {verdict}"
        )
    return (
        f"{summary.get('cells')} cells, {summary.get('primary')} primary and {summary.get('secondary')} "
        f"secondary suppressions, audit {verdict}, "
        f"gate by {summary.get('gate_lp_solves', 0)} LP solves"
    )
