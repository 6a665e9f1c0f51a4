"""The `pipeline` command: parses arguments, calls the pipeline or its flows, and prints what an operator needs."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table

from pipeline import db, runs
from pipeline.codebook import load_codebook
from pipeline.errors import PipelineError
from pipeline.registry import load_registry
from pipeline.settings import Settings

# Logs and CI are no terminal: give tables room there instead of rich's default of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the nightly flow now (all partners, or those named)")
    run.add_argument("--partner", action="append", dest="partners", metavar="ID", help="repeatable")
    commands.add_parser("status", help="the last run of every partner")
    commands.add_parser("check", help="validate the codebook and the partner registry, secrets included")
    commands.add_parser("demo", help="run the whole pipeline on embedded demo partners (emulated on 127.0.0.1)")
    args = parser.parse_args(argv)
    try:
        return {"run": _run, "status": _status, "check": _check, "demo": _demo}[args.command](args)
    except PipelineError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2


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
