"""The `pipeline` command: parses arguments, calls the pipeline or its flows, and prints what an operator needs."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, closing
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline import contract, db, drift, labels, orphans, quarantine, runs
from pipeline.codebook import Codebook, load_codebook
from pipeline.erase import erase
from pipeline.errors import PipelineError
from pipeline.extract.files import REJECTED, rejected_files
from pipeline.lock import writer_lock
from pipeline.publish import analyst, publish, release
from pipeline.publish.release import Release
from pipeline.rebuild import rebuild
from pipeline.registry import Registry, load_registry
from pipeline.settings import Settings
from pipeline.transform import build_marts

# Logs and CI are no terminal: give tables room there instead of rich's default of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the nightly flow now (all partners, or those named)")
    run.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    run.set_defaults(handler=_run)
    commands.add_parser("status", help="the last run of every partner").set_defaults(handler=_status)
    check = commands.add_parser("check", help="validate the codebook and the partner registry, secrets included")
    check.add_argument(
        "--connect",
        action="store_true",
        help="also reach every partner (one authenticated look at its form, nothing loaded) and compare its answer "
        "labels with the codebook's",
    )
    check.set_defaults(handler=_check)
    commands.add_parser(
        "demo", help="run the whole pipeline on embedded demo partners (emulated on 127.0.0.1)"
    ).set_defaults(handler=_demo)
    _add_quarantine_commands(commands)
    _add_contract_commands(commands)
    commands.add_parser(
        "rebuild", help="rebuild staging, core and marts from raw alone (no partner is contacted)"
    ).set_defaults(handler=_rebuild)
    publish = commands.add_parser(
        "publish", help="rebuild the marts, refresh the analyst file, publish a new release if there is news"
    )
    publish.set_defaults(handler=_publish)
    commands.add_parser("releases", help="the published releases and their disclosure audits").set_defaults(
        handler=_releases
    )
    commands.add_parser(
        "server", help="the Prefect server, the served deployments and the webhook receiver on 127.0.0.1"
    ).set_defaults(handler=_server)
    trigger = commands.add_parser("trigger", help="start a run on the server now: nightly, or one partner's ingest")
    trigger.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    trigger.set_defaults(handler=_trigger)
    args = parser.parse_args(argv)
    _private_files()
    try:
        return args.handler(args)
    except PipelineError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2


def _private_files() -> None:
    """Everything the pipeline and the processes it starts write (the working and analyst files, Prefect's
    database, logs, the quarantine exports) is for the operator's account alone: files 0600, folders 0700."""
    os.umask(0o077)
    data_dir = Settings().data_dir
    if data_dir.is_dir() and data_dir.stat().st_mode & 0o077:
        data_dir.chmod(0o700)


def _cell(value: object) -> str:
    """A table cell that may carry partner data: NULL (NaN under pandas 3) shows empty, and square brackets
    show as sent (`ORGTYP[other]`, `[/x]`) instead of being read as Rich markup."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return escape(str(value))


def _add_quarantine_commands(commands: argparse._SubParsersAction) -> None:
    quarantine = commands.add_parser("quarantine", help="rejected responses: list, export for a partner, replay")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="open rejections with field, value and reason")
    listing.add_argument("--partner", metavar="ID")
    listing.set_defaults(handler=_quarantine_list)
    export = actions.add_parser("export", help="a partner's rejections as CSV in German, to send back")
    export.add_argument("--partner", metavar="ID", required=True)
    export.add_argument("--out", type=Path, help="default: <data>/quarantine/<partner>.<format>")
    export.add_argument("--format", choices=["csv", "xlsx"], help="default: from --out's suffix, else csv")
    export.set_defaults(handler=_quarantine_export)
    replay = actions.add_parser("replay", help="check rejected responses again after a codebook or mapping fix")
    replay.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    replay.set_defaults(handler=_quarantine_replay)


def _quarantine_list(args: argparse.Namespace) -> int:
    settings = Settings()
    with _reading(settings, "quarantine list"):
        rows = quarantine.open_rejections(settings, args.partner)
    rows["quarantined_at"] = rows["quarantined_at"].dt.tz_convert(settings.timezone)
    table = Table(title=f"Open rejections: {rows['record_id'].nunique()} responses, {len(rows)} failed checks")
    for name in ("partner_id", "source_id", "field", "value", "reason", "quarantined_at"):
        table.add_column(name)
    for row in rows.itertuples(index=False):
        table.add_row(
            _cell(row.partner_id),
            _cell(row.source_id),
            _cell(row.field),
            _cell(None if pd.isna(row.value) else str(row.value)[:40]),
            _cell(row.reason),
            f"{row.quarantined_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    return 0


def _quarantine_export(args: argparse.Namespace) -> int:
    settings = Settings()
    fmt = args.format or ("xlsx" if args.out and args.out.suffix.lower() == ".xlsx" else "csv")
    out = args.out or settings.data_dir / "quarantine" / f"{args.partner}.{fmt}"
    with _reading(settings, "quarantine export"):
        n = quarantine.export_for_partner(settings, args.partner, out, fmt)
    console.print(escape(f"{n} rejected answers of {args.partner} written to {out}"))
    return 0


def _quarantine_replay(args: argparse.Namespace) -> int:
    settings = Settings()
    with writer_lock(settings.db_path, "quarantine replay", settings.writer_wait_seconds, console.print):
        replayed = quarantine.replay(settings, args.partners)
    for partner_id, (still, inserted, updated) in replayed.items():
        console.print(
            escape(
                f"{partner_id}: loaded {inserted + updated} (inserted {inserted}, updated {updated}), "
                f"still quarantined {still}"
            )
        )
    return 0


def _add_contract_commands(commands: argparse._SubParsersAction) -> None:
    found = commands.add_parser("drift", help="schema drift: unknown columns, mapped columns gone, new answer codes")
    found.add_argument("--partner", metavar="ID")
    found.add_argument("--runs", type=int, default=1, metavar="N", help="each partner's last N runs (default 1)")
    found.set_defaults(handler=_drift)
    remove = commands.add_parser("erase", help="remove one respondent everywhere (a data subject's request)")
    remove.add_argument("--partner", metavar="ID", required=True)
    remove.add_argument("--response", metavar="R", required=True, help="the partner's own response id")
    remove.add_argument(
        "--source", metavar="S", help="the survey it came from, e.g. limesurvey:482913 (default: the configured one)"
    )
    remove.add_argument("--by", default=getpass.getuser(), help="who asks for it (default: the user running this)")
    remove.set_defaults(handler=_erase)
    schemas = commands.add_parser("schemas", help="write the pandera schema derived from the codebook to schemas/")
    schemas.add_argument("--check", action="store_true", help="only check that the written schema is current")
    schemas.set_defaults(handler=_schemas)


def _drift(args: argparse.Namespace) -> int:
    settings = Settings()
    registry = load_registry(settings.partners_file, load_codebook(settings.codebook_file), check_secrets=False)
    with _reading(settings, "drift"), closing(db.connect(settings.db_path, settings.sql_dir)) as con:
        found = drift.report(con, settings.sql_dir, args.partner, args.runs)
    partners = {p.id: p for p in registry.partners}
    table = Table(title=f"Schema drift in each partner's last {args.runs} run(s): {len(found)} findings")
    for name in ("partner_id", "run started", "finding", "first seen"):
        table.add_column(name)
    for row in found.itertuples(index=False):
        table.add_row(
            _cell(row.partner_id),
            f"{row.started_at.tz_convert(settings.timezone):%Y-%m-%d %H:%M}",
            _cell(drift.describe(row, partners.get(row.partner_id))),
            f"{row.first_seen_at.tz_convert(settings.timezone):%Y-%m-%d %H:%M}",
        )
    console.print(table)
    return 0


def _erase(args: argparse.Namespace) -> int:
    settings = Settings()
    with writer_lock(
        settings.db_path, f"erase a respondent of {args.partner}", settings.writer_wait_seconds, console.print
    ):
        done = erase(settings, args.partner, args.response, args.by, args.source, record_unknown=True)
    if done.versions:
        console.print(
            escape(
                f"{done.partner_id}: respondent erased: {done.versions} stored versions removed from raw, staging, "
                f"core and the quarantine{'' if done.loaded else ' (it was never loaded into core)'}; marts rebuilt"
            )
        )
    else:
        console.print(f"[yellow]{escape(done.partner_id)}: nothing was stored under that response id[/yellow]")
    console.print(
        f"recorded in ops.erased as {done.respondent_key[:12]}…: later pulls leave the response out (counted as "
        "duplicates); the next publication reflects it"
    )
    for note in done.notes:
        console.print(f"[yellow]still to do:[/yellow] {escape(note)}")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    settings = Settings()
    codebook = load_codebook(settings.codebook_file)
    path = contract.schema_file(settings.project_dir / "schemas" / "contract", codebook)
    text = contract.schema_yaml(codebook, settings.codebook_file.name)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if args.check:
        if current != text:
            console.print(f"[red]{path} is not what the codebook derives: run `pipeline schemas`[/red]")
            return 1
        console.print(f"{path} is current")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"{path} {'unchanged' if current == text else 'written'} ({contract.schema(codebook).name})")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    settings = Settings()
    with writer_lock(settings.db_path, "rebuild", settings.writer_wait_seconds, console.print):
        rebuilt = rebuild(settings)
    for partner_id, (quarantined, inserted, updated) in rebuilt.items():
        console.print(
            escape(f"{partner_id}: loaded {inserted} responses ({updated} later versions), quarantined {quarantined}")
        )
    console.print(f"rebuilt staging, core and marts in {settings.db_path} from raw")
    return 0


def _publish(args: argparse.Namespace) -> int:
    settings = Settings()
    with writer_lock(settings.db_path, "publish", settings.writer_wait_seconds, console.print):
        build_marts(settings)
        analyst_file = analyst.refresh(settings)
        outcome = publish(settings)
    console.print(f"analyst file refreshed: {analyst_file}")
    console.print(escape(outcome.message))
    if outcome.release is not None:
        _print_audit(outcome.release)
    return 0


def _releases(args: argparse.Namespace) -> int:
    settings = Settings()
    current = release.current(settings)
    table = Table(title=f"Releases in {settings.releases_dir}")
    columns = ("release", "published_at", "waves", "cells", "primary", "secondary", "item means", "HF means")
    for name in (*columns, "narrowest", "audit", ""):
        table.add_column(name)
    for made in release.history(settings):
        audit = made.manifest.get("audit", {})
        table.add_row(
            made.id,
            made.manifest["published_at"],
            ", ".join(w["wave"] + (" (open)" if w.get("open") else "") for w in made.manifest.get("waves", [])),
            str(audit.get("cells")),
            str(audit.get("primary")),
            str(audit.get("secondary")),
            _share(made, "item_means"),
            _share(made, "field_means"),
            _narrowest(audit),
            ("passed" if audit.get("passed") else "FAILED") + _jointly(made),
            "current" if current is not None and current.id == made.id else "",
        )
    console.print(table)
    return 0


def _print_audit(made: Release) -> None:
    audit = made.manifest["audit"]
    console.print(
        f"release {made.id}: {made.directory}\n"
        f"  disclosure audit {'passed' if audit.get('passed') else 'FAILED'}: {audit.get('cells')} cells, "
        f"{audit.get('primary')} primary and {audit.get('secondary')} secondary suppressions, "
        f"narrowest interval {_narrowest(audit)}{_jointly(made)}\n"
        f"  published means of groups with at least k valid answers: items {_share(made, 'item_means')} "
        f"(insgesamt {_share(made, 'item_means_insgesamt')}), Handlungsfelder {_share(made, 'field_means')}"
    )


def _jointly(made: Release) -> str:
    """An open wave's release is audited together with the release before it."""
    previous = made.manifest.get("audited_with_release")
    return f" (jointly with release {previous})" if previous else ""


def _share(made: Release, figures: str) -> str:
    """The share of a release's key figures published (see its manifest's information_loss)."""
    counts = made.manifest.get("information_loss", {}).get("key_figures", {}).get(figures)
    if not counts:
        return "—"
    if not counts["groups"]:
        return "none"
    return f"{counts['published'] / counts['groups']:.0%} of {counts['groups']}"


def _narrowest(audit: dict) -> str:
    narrowest = audit.get("narrowest")
    if not narrowest:
        return "—"
    return f"[{narrowest['lower']:g}, {narrowest['upper']:g}] for {narrowest['cell']}"


def _server(args: argparse.Namespace) -> int:
    from pipeline import server

    return server.run(Settings(), lambda line: console.print(line, markup=False, highlight=False))


def _trigger(args: argparse.Namespace) -> int:
    """Start deployment runs on the server `pipeline server` runs (or the one PREFECT_API_URL names)."""
    from pipeline import server

    settings = Settings()
    os.environ.setdefault("PREFECT_API_URL", server.api_url(settings.prefect_port))
    from flows.deployments import trigger

    for url in trigger(settings, args.partners):
        console.print(f"started: {url}")
    return 0


def _run(args: argparse.Namespace) -> int:
    return _flow(Settings(), args.partners)


def _flow(settings: Settings, partners: list[str] | None) -> int:
    """Run the nightly flow in-process (Prefect's ephemeral mode without a server) and print the outcome.

    Prefect's temporary API servers left running by killed runs on this data folder are stopped first, and
    this run is marked as the one starting its own (see pipeline.orphans)."""
    for pid in orphans.stop_left_behind(settings.data_dir):
        console.print(f"[yellow]stopped Prefect's temporary server (pid {pid}), left running by a killed run[/yellow]")
    orphans.mark(settings.data_dir)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's 20 s for its temporary API server to start are too few on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from flows.nightly import nightly

    state = nightly(partners, return_state=True)
    _print_status(settings)
    colour = "green" if state.is_completed() else "red"
    console.print(f"[{colour}]{state.type.value}[/{colour}]: {escape(str(state.message))}")
    return 0 if state.is_completed() else 1


def _reading(settings: Settings, command: str) -> AbstractContextManager[None]:
    """The writer lock, for a command that only reads the working file. DuckDB lets one process at a time
    open the file, so a command run while a pipeline step writes would fail on DuckDB's lock: it waits for
    the step instead, like a writer, and says whom it waits for."""
    return writer_lock(settings.db_path, f"{command} (reading)", settings.writer_wait_seconds, console.print)


def _status(args: argparse.Namespace) -> int:
    _print_status(Settings())
    return 0


def _print_status(settings: Settings) -> None:
    with _reading(settings, "status"), closing(db.connect(settings.db_path, settings.sql_dir)) as con:
        frame = runs.last_runs(con, settings.sql_dir)
        found = drift.report(con, settings.sql_dir)
    table = Table(title=f"Last run per partner — {settings.db_path}")
    columns = ["partner_id", "status", "finished_at", *runs.COUNTS]
    # fetched = inserted + updated + unchanged + quarantined + duplicates, checked on every row shown
    for name in [*columns, "= sum", "gone"]:
        table.add_column(name, justify="right" if name in (*runs.COUNTS, "gone") else "left")
    for row in frame.itertuples(index=False):
        finished = (
            f"{row.finished_at.tz_convert(settings.timezone):%Y-%m-%d %H:%M:%S}" if pd.notna(row.finished_at) else "—"
        )
        values = [_cell(getattr(row, c)) for c in columns]
        values[2] = finished
        gap = row.fetched - sum(getattr(row, c) for c in runs.COUNTS[1:])
        gone = "" if pd.isna(row.gone) else str(int(row.gone))
        table.add_row(*values, "yes" if gap == 0 else f"[red]off by {gap}[/red]", gone)
    console.print(table)
    # Below the table, whole: a reason squeezed into a column would be cut where the operator needs it.
    for row in frame[frame["error"].notna()].itertuples(index=False):
        console.print(f"[red]{_cell(row.status).upper()}[/red] {_cell(row.partner_id)}: {_cell(row.error)}")
    for row in frame[frame["gone"].fillna(0) > 0].itertuples(index=False):
        console.print(escape(runs.gone_note(row.partner_id, int(row.gone), list(row.gone_ids))))
    _print_drift_summary(found)
    _print_rejected_files(settings)


def _print_rejected_files(settings: Settings) -> None:
    """The drop-folder files moved aside as unreadable, with their reasons, until the operator removes them.
    A registry that does not load costs this list only, never the status table above it."""
    try:
        registry = load_registry(settings.partners_file, load_codebook(settings.codebook_file), check_secrets=False)
    except PipelineError as exc:
        console.print(f"[yellow]rejected drop files not listed:[/yellow] {escape(str(exc))}")
        return
    for partner in registry.partners:
        if partner.connector.kind == "files":
            for name, reason in rejected_files(partner.connector):
                console.print(
                    escape(f"rejected file {partner.id}: {partner.connector.folder / REJECTED / name}: {reason}")
                )


def _print_drift_summary(found: pd.DataFrame) -> None:
    """One line per partner whose last run showed schema drift; `pipeline drift` lists the findings."""
    names = {
        "unknown_column": "unknown columns",
        "missing_column": "mapped columns gone",
        "new_code": "new answer codes",
    }
    for partner_id, rows in found.groupby("partner_id"):
        counts = rows["kind"].value_counts()
        said = ", ".join(f"{name} {counts[kind]}" for kind, name in names.items() if kind in counts)
        partner = escape(str(partner_id))
        console.print(f"[yellow]drift[/yellow] {partner}: {said} (pipeline drift --partner {partner})")


def _check(args: argparse.Namespace) -> int:
    settings = Settings()
    codebook = load_codebook(settings.codebook_file)
    registry = load_registry(settings.partners_file, codebook, check_secrets=True)
    console.print(
        f"codebook {codebook.instrument.code} {codebook.latest_version}: {len(codebook.items)} items; "
        f"registry: {len(registry.partners)} partners, {len(registry.waves)} waves — valid"
    )
    if settings.db_path.exists():
        with _reading(settings, "check"), closing(db.connect(settings.db_path, settings.sql_dir)) as con:
            for line in drift.repeat_groups(con, settings.sql_dir):
                console.print(escape(line))
    return _connect(settings, codebook, registry) if args.connect else 0


def _connect(settings: Settings, codebook: Codebook, registry: Registry) -> int:
    """One line per partner: reached and authorised (what was read), or why not; then each way its answer labels
    disagree with the codebook's. 1 when a partner failed or a label disagrees."""
    once = settings.model_copy(update={"http_retries": 1})  # a check, not a nightly run: say it at once
    problems = 0
    for partner in registry.partners:
        try:
            connector = partner.connector.open(partner.id, partner.secret(), once, partner.identifier_fields)
            form = connector.form_labels()
        except PipelineError as exc:
            console.print(f"[red]FAILED[/red] {escape(str(exc))}")
            problems += 1
            continue
        found = labels.compare(partner, codebook, form.answers)
        compared = f"answer labels of {found.compared} mapped questions compared" if form.answers else "no labels shown"
        console.print(
            f"[green]ok[/green] {escape(partner.id)}: reached and authorised ({escape(form.where)}); {compared}"
        )
        for line in found.mismatches:
            console.print(
                f"[yellow]label mismatch[/yellow] {escape(line)} (a reversed or shifted scale? fix the recode)"
            )
        problems += len(found.mismatches)
    return 1 if problems else 0


def _demo(args: argparse.Namespace) -> int:
    from pipeline import demo
    from pipeline.demo import bad_input

    default = Settings()
    default_env = dict(os.environ)
    data_dir = default.data_dir / "demo" if "PIPELINE_DATA_DIR" not in os.environ else default.data_dir
    settings = Settings(data_dir=data_dir)
    with demo.running(settings) as world:
        os.environ.update(world.env)
        settings = Settings()
        for kind, service in world.services.items():
            where = f" on {service.url}" if service.server else ""
            console.print(f"{kind} emulator{where} serving {len(service.served)} demo partners")
        if settings.respondent_key_env not in default_env:
            console.print(
                f"Respondent key: generated for the demo and kept in {settings.data_dir / 'respondent.key'} "
                f"(in production it comes from {settings.respondent_key_env})"
            )
        for case in bad_input.plant(world):
            planted = f"Bad input planted at {case.partner_id}, response {case.source_id}: {case.case}"
            console.print(escape(f"{planted} → {case.outcome}"))
        code = _flow(settings, None)
    console.print(f"Working DuckDB:    {settings.db_path}")
    console.print(f"Analyst DuckDB:    {settings.analyst_db_path}")
    current = release.current(settings)
    if current is not None:
        _print_audit(current)
        for path in sorted(current.directory.rglob("*")):
            if path.is_file():
                console.print(f"  {path.relative_to(current.directory)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
