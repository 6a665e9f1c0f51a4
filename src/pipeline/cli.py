"""The `pipeline` command: parses arguments, calls the pipeline or its flows, and prints what an operator needs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from pipeline import db, quarantine, runs
from pipeline.codebook import load_codebook
from pipeline.errors import PipelineError
from pipeline.lock import writer_lock
from pipeline.rebuild import rebuild
from pipeline.registry import load_registry
from pipeline.settings import Settings

# Logs and CI are no terminal: give tables room there instead of rich's default of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the nightly flow now (all partners, or those named)")
    run.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    run.set_defaults(handler=_run)
    commands.add_parser("status", help="the last run of every partner").set_defaults(handler=_status)
    commands.add_parser("check", help="validate the codebook and the partner registry, secrets included").set_defaults(
        handler=_check
    )
    commands.add_parser(
        "demo", help="run the whole pipeline on embedded demo partners (emulated on 127.0.0.1)"
    ).set_defaults(handler=_demo)
    _add_quarantine_commands(commands)
    commands.add_parser(
        "rebuild", help="rebuild staging, core and marts from raw alone (no partner is contacted)"
    ).set_defaults(handler=_rebuild)
    commands.add_parser(
        "server", help="the Prefect server, the served deployments and the webhook receiver on 127.0.0.1"
    ).set_defaults(handler=_server)
    trigger = commands.add_parser("trigger", help="start a run on the server now: nightly, or one partner's ingest")
    trigger.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    trigger.set_defaults(handler=_trigger)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except PipelineError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


def _add_quarantine_commands(commands: argparse._SubParsersAction) -> None:
    quarantine = commands.add_parser("quarantine", help="rejected responses: list, export for a partner, replay")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="open rejections with field, value and reason")
    listing.add_argument("--partner", metavar="ID")
    listing.set_defaults(handler=_quarantine_list)
    export = actions.add_parser("export", help="a partner's rejections as CSV in German, to send back")
    export.add_argument("--partner", metavar="ID", required=True)
    export.add_argument("--out", type=Path, help="default: <data>/quarantine/<partner>.csv")
    export.set_defaults(handler=_quarantine_export)
    replay = actions.add_parser("replay", help="check rejected responses again after a codebook or mapping fix")
    replay.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    replay.set_defaults(handler=_quarantine_replay)


def _quarantine_list(args: argparse.Namespace) -> int:
    settings = Settings()
    rows = quarantine.open_rejections(settings, args.partner)
    rows["quarantined_at"] = rows["quarantined_at"].dt.tz_convert(settings.timezone)
    table = Table(title=f"Open rejections: {rows['record_id'].nunique()} responses, {len(rows)} failed checks")
    for name in ("partner_id", "source_id", "field", "value", "reason", "quarantined_at"):
        table.add_column(name)
    for row in rows.itertuples(index=False):
        value = "" if row.value is None else str(row.value)
        table.add_row(
            row.partner_id,
            str(row.source_id),
            row.field or "",
            value[:40],
            row.reason,
            f"{row.quarantined_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    return 0


def _quarantine_export(args: argparse.Namespace) -> int:
    settings = Settings()
    out = args.out or settings.data_dir / "quarantine" / f"{args.partner}.csv"
    n = quarantine.export_for_partner(settings, args.partner, out)
    console.print(f"{n} rejected answers of {args.partner} written to {out}")
    return 0


def _quarantine_replay(args: argparse.Namespace) -> int:
    settings = Settings()
    with writer_lock(settings.db_path, "quarantine replay", settings.writer_wait_seconds, console.print):
        replayed = quarantine.replay(settings, args.partners)
    for partner_id, (still, inserted, updated) in replayed.items():
        console.print(
            f"{partner_id}: loaded {inserted + updated} (inserted {inserted}, updated {updated}), "
            f"still quarantined {still}"
        )
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    settings = Settings()
    with writer_lock(settings.db_path, "rebuild", settings.writer_wait_seconds, console.print):
        rebuilt = rebuild(settings)
    for partner_id, (quarantined, inserted, updated) in rebuilt.items():
        console.print(
            f"{partner_id}: loaded {inserted} responses ({updated} later versions), quarantined {quarantined}"
        )
    console.print(f"rebuilt staging, core and marts in {settings.db_path} from raw")
    return 0


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
    """Run the nightly flow in-process (Prefect's ephemeral mode without a server) and print the outcome."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.nightly import nightly

    state = nightly(partners, return_state=True)
    _print_status(settings)
    colour = "green" if state.is_completed() else "red"
    console.print(f"[{colour}]{state.type.value}[/{colour}]: {state.message}")
    return 0 if state.is_completed() else 1


def _status(args: argparse.Namespace) -> int:
    _print_status(Settings())
    return 0


def _print_status(settings: Settings) -> None:
    con = db.connect(settings.db_path, settings.sql_dir)
    try:
        frame = runs.last_runs(con, settings.sql_dir)
    finally:
        con.close()
    table = Table(title=f"Last run per partner — {settings.db_path}")
    columns = [
        "partner_id",
        "status",
        "finished_at",
        "fetched",
        "loaded",
        "unchanged",
        "quarantined",
        "duplicates",
    ]
    for name in [*columns, "error"]:
        table.add_column(name, justify="right" if name in runs.COUNTS or name == "loaded" else "left")
    for row in frame.itertuples(index=False):
        finished = row.finished_at.strftime("%Y-%m-%d %H:%M:%S") if pd.notna(row.finished_at) else "—"
        values = [str(getattr(row, c)) for c in columns]
        values[2] = finished
        table.add_row(*values, row.error or "")
    console.print(table)
    drift = frame[frame["unmapped_fields"].map(lambda f: f is not None and len(f) > 0)]
    for row in drift.itertuples(index=False):
        console.print(f"[yellow]unmapped fields[/yellow] {row.partner_id}: {', '.join(row.unmapped_fields)}")


def _check(args: argparse.Namespace) -> int:
    settings = Settings()
    codebook = load_codebook(settings.codebook_file)
    registry = load_registry(settings.partners_file, codebook, check_secrets=True)
    console.print(
        f"codebook {codebook.instrument.code} {codebook.latest_version}: {len(codebook.items)} items; "
        f"registry: {len(registry.partners)} partners, {len(registry.waves)} waves — valid"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pipeline import demo

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
        code = _flow(settings, None)
    console.print(f"DuckDB file:       {settings.db_path}")
    console.print(f"Published tables:  {settings.publish_dir}")
    for path in sorted(settings.publish_dir.glob("*")):
        console.print(f"  {path.name}")
    return code


if __name__ == "__main__":
    sys.exit(main())
