"""The `pipeline` command: parses arguments, calls the pipeline or its flows, and prints what an operator needs."""

from __future__ import annotations

import getpass
import logging
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, closing
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.errors import ConfigError, NothingStored, PipelineError, WorkingFileBusy
from pipeline.service import orphans
from pipeline.service.lock import WriterLockTimeout, writer_lock
from pipeline.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.context import Context
    from pipeline.contract.codebook import Codebook
    from pipeline.publish.release import Release
    from pipeline.registry import Registry

DISTRIBUTION = "chancencheck-pipeline"  # pyproject's [project] name
# Logs and CI are no terminal: give tables room there instead of rich's default of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)
# Errors, and what a --json command says besides its JSON, go to stderr: stdout stays parseable.
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

OK, FAILED, USAGE, CONFIG, BUSY = 0, 1, 2, 3, 4
# \b keeps click from rewrapping the lines into one paragraph
EXIT_CODES = f"""\b
Exit codes:
{OK} done;
{FAILED} a run or command failed (a partner failed, a check found problems, an unknown id to erase, a refusal);
{USAGE} usage error (unknown command or option, missing argument);
{CONFIG} configuration error (partner registry, codebook or settings invalid);
{BUSY} the working file busy (another run kept the writer lock longer than PIPELINE_WRITER_WAIT_SECONDS);
130 interrupted (Ctrl-C)."""

app = typer.Typer(
    name="pipeline",
    help=__doc__,
    epilog=f"Example: pipeline status --json\n\n{EXIT_CODES}",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
quarantine_app = typer.Typer(
    help="Rejected responses: list, export for a partner, replay.",
    epilog="Example: pipeline quarantine list --partner caritas-lu",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(quarantine_app, name="quarantine")

Partner = Annotated[str | None, typer.Option("--partner", metavar="ID", help="one partner (default: all)")]
Partners = Annotated[
    list[str] | None, typer.Option("--partner", metavar="ID", help="repeatable (default: all partners)")
]
AsJson = Annotated[
    bool, typer.Option("--json", help="a JSON array of objects, one per row, and nothing else on stdout")
]


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ExportFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command argv names (sys.argv when None) and return its exit code (see EXIT_CODES)."""
    try:
        # standalone: click prints usage errors and exits with 2, --help and --version with 0, a declined
        # confirmation with 1; our own errors come through to be mapped below
        typer.main.get_command(app).main(args=argv, prog_name="pipeline")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else OK if exc.code is None else FAILED
    except PipelineError as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        return _exit_code(exc)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        err_console.print(f"[red]error:[/red] {escape(_invalid_settings(exc))}")
        return CONFIG
    return OK


def _invalid_settings(exc: ValidationError) -> str:
    """Settings() refused the environment: name each variable and what is wrong with it, on one line."""
    said = "; ".join(
        f"PIPELINE_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
    )
    return f"invalid settings: {said}"


def _exit_code(exc: PipelineError) -> int:
    if isinstance(exc, ConfigError):
        return CONFIG
    if isinstance(exc, WorkingFileBusy | WriterLockTimeout):
        return BUSY
    return FAILED


def _done(code: int) -> None:
    """A command's result as its exit code."""
    if code:
        raise typer.Exit(code)


def _show_version(shown: bool) -> None:
    if shown:
        typer.echo(f"pipeline {metadata.version(DISTRIBUTION)}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and stop"),
    ] = False,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level",
            case_sensitive=False,
            help="the level of the log lines on stderr, Prefect's in flows run in-process included (default: "
            "WARNING, Prefect's from PREFECT_LOGGING_LEVEL)",
        ),
    ] = None,
) -> None:
    if log_level is not None:
        logging.basicConfig(level=log_level.value, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger().setLevel(log_level.value)
        # Prefect configures logging when a flow is imported and would put the root logger back to WARNING
        os.environ["PREFECT_LOGGING_LEVEL"] = os.environ["PREFECT_LOGGING_ROOT_LEVEL"] = log_level.value
    _private_files()


def _context() -> Context:
    """What the command works with, from the environment; built once per command and passed in."""
    from pipeline.context import Context

    return Context.from_environment()


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
    import pandas as pd

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    return escape(str(value))


@quarantine_app.command(
    "list", epilog="Example: pipeline quarantine list --partner caritas-lu --json > rejections.json"
)
def quarantine_list(partner: Partner = None, as_json: AsJson = False) -> None:
    """Open rejections with field, value and reason."""
    import pandas as pd

    from pipeline.contract import quarantine

    ctx = _context()
    settings = ctx.settings
    with _reading(settings, "quarantine list", as_json):
        rows = quarantine.open_rejections(ctx, partner)
    rows["quarantined_at"] = rows["quarantined_at"].dt.tz_convert(settings.timezone)
    if as_json:
        columns = ["partner_id", "source", "source_id", "field", "value", "reason", "quarantined_at"]
        _print_json(rows[columns].assign(value=rows["value"].map(lambda v: None if pd.isna(v) else str(v))))
        return
    table = Table(title=f"Open rejections: {rows['record_id'].nunique()} responses, {len(rows)} failed checks")
    for name in ("partner_id", "source", "source_id", "field", "value", "reason", "quarantined_at"):
        table.add_column(name)
    for row in rows.itertuples(index=False):
        table.add_row(
            _cell(row.partner_id),
            _cell(row.source),
            _cell(row.source_id),
            _cell(row.field),
            _cell(None if pd.isna(row.value) else str(row.value)[:40]),
            _cell(row.reason),
            f"{row.quarantined_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@quarantine_app.command("export", epilog="Example: pipeline quarantine export --partner caritas-lu --out caritas.xlsx")
def quarantine_export(
    partner: Annotated[str, typer.Option("--partner", metavar="ID", help="the partner to send it to")],
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="default: <data>/quarantine/<partner>.<format>")
    ] = None,
    fmt: Annotated[ExportFormat | None, typer.Option("--format", help="default: from --out's suffix, else csv")] = None,
) -> None:
    """A partner's rejections as CSV (or XLSX) in German, in the partner's own codes, to send back."""
    from pipeline.contract import quarantine

    ctx = _context()
    settings = ctx.settings
    chosen = fmt.value if fmt else ("xlsx" if out and out.suffix.lower() == ".xlsx" else "csv")
    out = out or settings.data_dir / "quarantine" / f"{partner}.{chosen}"
    with _reading(settings, "quarantine export"):
        n = quarantine.export_for_partner(ctx, partner, out, chosen)
    console.print(escape(f"{n} rejected answers of {partner} written to {out}"))


@quarantine_app.command("replay", epilog="Example: pipeline quarantine replay --partner caritas-lu")
def quarantine_replay(partners: Partners = None) -> None:
    """Check rejected responses again after a codebook or mapping fix: what passes now loads."""
    from pipeline.contract import quarantine

    ctx = _context()
    settings = ctx.settings
    with writer_lock(settings.db_path, "quarantine replay", settings.writer_wait_seconds, console.print):
        replayed = quarantine.replay(ctx, partners)
    for partner_id, (still, inserted, updated) in replayed.items():
        console.print(
            escape(
                f"{partner_id}: loaded {inserted + updated} (inserted {inserted}, updated {updated}), "
                f"still quarantined {still}"
            )
        )


@app.command("drift", epilog="Example: pipeline drift --partner caritas-lu --runs 5")
def drift_command(
    partner: Partner = None,
    last: Annotated[int, typer.Option("--runs", metavar="N", min=1, help="each partner's last N runs")] = 1,
) -> None:
    """Schema drift: unknown columns, mapped columns gone, new answer codes."""
    from pipeline.contract import drift

    ctx = _context()
    settings = ctx.settings
    with _reading(settings, "drift"), closing(ctx.connect()) as con:
        found = drift.report(con, settings.sql_dir, partner, last)
    partners = {p.id: p for p in ctx.registry.partners}
    table = Table(title=f"Schema drift in each partner's last {last} run(s): {len(found)} findings")
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


@app.command("erase", epilog="Example: pipeline erase --partner caritas-lu --response 4711 --by Datenschutz")
def erase_command(
    partner: Annotated[str, typer.Option("--partner", metavar="ID", help="the partner the response came from")],
    response: Annotated[str, typer.Option("--response", metavar="R", help="the partner's own response id")],
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            metavar="S",
            help="the survey it came from, e.g. limesurvey:482913 (default: the configured one)",
        ),
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="who asks for it (default: the user running this)")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="record the erasure even when nothing is stored under the id (a response not pulled yet): "
            "later pulls leave it out",
        ),
    ] = False,
) -> None:
    """Remove one respondent everywhere, raw included (a data subject's request). It cannot be undone."""
    from pipeline.maintenance.erase import erase

    if not yes and not typer.confirm(
        f"Erase response {response} of {partner} from raw, staging, core, the quarantine and the marts?"
    ):
        console.print("nothing erased")
        raise typer.Exit(FAILED)
    ctx = _context()
    settings = ctx.settings
    try:
        with writer_lock(
            settings.db_path, f"erase a respondent of {partner}", settings.writer_wait_seconds, console.print
        ):
            done = erase(ctx, partner, response, by or getpass.getuser(), source, record_unknown=force)
    except NothingStored as exc:
        err_console.print(
            f"[red]error:[/red] {escape(str(exc))}: nothing erased. Check the id; to keep a response not pulled "
            "yet out of later pulls, record the erasure with --force"
        )
        raise typer.Exit(FAILED) from exc
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


@app.command("schemas", epilog="Example: pipeline schemas --check")
def schemas_command(
    check: Annotated[bool, typer.Option("--check", help="only check that the written schema is current")] = False,
) -> None:
    """Write the pandera schema derived from the codebook to schemas/contract/."""
    from pipeline.contract import validation as contract

    ctx = _context()
    settings, codebook = ctx.settings, ctx.codebook
    path = contract.schema_file(settings.project_dir / "schemas" / "contract", codebook)
    text = contract.schema_yaml(codebook, settings.codebook_file.name)
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if check:
        if current != text:
            console.print(f"[red]{path} is not what the codebook derives: run `pipeline schemas`[/red]")
            raise typer.Exit(FAILED)
        console.print(f"{path} is current")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    console.print(f"{path} {'unchanged' if current == text else 'written'} ({contract.schema(codebook).name})")


@app.command("rebuild", epilog="Example: pipeline rebuild")
def rebuild_command() -> None:
    """Rebuild staging, core and marts from raw alone (no partner is contacted)."""
    from pipeline.maintenance.rebuild import rebuild

    ctx = _context()
    settings = ctx.settings
    with writer_lock(settings.db_path, "rebuild", settings.writer_wait_seconds, console.print):
        rebuilt = rebuild(ctx)
    for partner_id, (quarantined, inserted, updated) in rebuilt.items():
        console.print(
            escape(f"{partner_id}: loaded {inserted} responses ({updated} later versions), quarantined {quarantined}")
        )
    console.print(f"rebuilt staging, core and marts in {settings.db_path} from raw")


@app.command("publish", epilog="Example: pipeline publish")
def publish_command() -> None:
    """Rebuild the marts, refresh the analyst file, publish a new release if there is news."""
    from pipeline.publish.publication import publish_all

    ctx = _context()
    settings = ctx.settings
    refreshed = publish_all(
        ctx,
        writer=lambda holder: writer_lock(settings.db_path, holder, settings.writer_wait_seconds, console.print),
    )
    console.print(f"analyst file refreshed: {refreshed.analyst_file}")
    console.print(escape(refreshed.publication.message))
    if refreshed.publication.release is not None:
        _print_audit(refreshed.publication.release)


@app.command("releases", epilog="Example: pipeline releases --json")
def releases_command(as_json: AsJson = False) -> None:
    """The published releases and their disclosure audits; which one is current."""
    import pandas as pd

    from pipeline.publish import release

    settings = Settings()
    current = release.current(settings)
    if as_json:
        _print_json(pd.DataFrame([_release_fields(made, current) for made in release.history(settings)]))
        return
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


def _release_fields(made: Release, current: Release | None) -> dict[str, object]:
    """A release as the table shows it, in the manifest's own figures instead of the table's phrases."""
    audit = made.manifest.get("audit", {})
    key_figures = made.manifest.get("information_loss", {}).get("key_figures", {})
    return {
        "release": made.id,
        "published_at": made.manifest["published_at"],
        "waves": [{"wave": w["wave"], "open": bool(w.get("open"))} for w in made.manifest.get("waves", [])],
        "method": _method(made),
        "cells": audit.get("cells"),
        "primary": audit.get("primary"),
        "secondary": audit.get("secondary"),
        "item_means": key_figures.get("item_means"),
        "field_means": key_figures.get("field_means"),
        "narrowest": audit.get("narrowest"),
        "audit_passed": bool(audit.get("passed")),
        "audited_with_release": made.manifest.get("audited_with_release"),
        "current": current is not None and current.id == made.id,
    }


def _print_json(rows: pd.DataFrame) -> None:
    """rows as a JSON array of objects: times as ISO 8601, missing values as null, no markup."""
    if rows.empty:
        typer.echo("[]")  # pandas writes an empty array as "[", a blank line and "]"
        return
    typer.echo(rows.to_json(orient="records", date_format="iso", date_unit="s", force_ascii=False, indent=2))


def _print_audit(made: Release) -> None:
    audit = made.manifest["audit"]
    console.print(
        f"release {made.id}: {made.directory}\n"
        f"  disclosure audit {'passed' if audit.get('passed') else 'FAILED'} ({_method(made).replace('_', ' ')}): "
        f"{audit.get('cells')} cells, "
        f"{audit.get('primary')} primary and {audit.get('secondary')} secondary suppressions, "
        f"narrowest interval {_narrowest(audit)}{_jointly(made)}\n"
        f"  published means of groups with at least k valid answers: items {_share(made, 'item_means')} "
        f"(insgesamt {_share(made, 'item_means_insgesamt')}), Handlungsfelder {_share(made, 'field_means')}\n"
        "  organisation types of k or more respondents without a published Handlungsfeld mean: "
        f"{_without_column(made)}\n"
        f"  published together as 'weitere' (types below k with the smallest others): {_grouped(made)}"
    )


def _grouped(made: Release) -> str:
    """The organisation types each wave publishes together (disclosure/grouping.py)."""
    grouping = made.manifest.get("grouping", {})
    shown = [f"{escape(wave)}: {escape(', '.join(types))}" for wave, types in grouping.items() if types]
    return "; ".join(shown) or "none"


def _method(made: Release) -> str:
    """How the release was protected: "suppression" (releases before the setting existed) or "cell_key"."""
    return str(made.manifest.get("disclosure", {}).get("method", "suppression"))


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
    return f"{counts['published']} of {counts['groups']} ({counts['published'] / counts['groups']:.1%})"


def _without_column(made: Release) -> str:
    """The organisation types (per wave) whose whole column of the overview is hidden."""
    by_type = made.manifest.get("information_loss", {}).get("key_figures", {}).get("by_org_type")
    if by_type is None:
        return "—"
    hidden = [
        f"{escape(row['org_type'])} {row['wave']}"
        for row in by_type
        if row["field_means"]["groups"] and not row["field_means"]["published"]
    ]
    return ", ".join(hidden) or "none"


def _narrowest(audit: dict) -> str:
    narrowest = audit.get("narrowest")
    if not narrowest:
        return "—"
    return f"[{narrowest['lower']:g}, {narrowest['upper']:g}] for {narrowest['cell']}"


@app.command("server", epilog="Example: PIPELINE_PREFECT_PORT=4200 pipeline server")
def server_command() -> None:
    """The Prefect server, the served deployments and the webhook receiver on 127.0.0.1; Ctrl-C stops all."""
    from pipeline_flows import server

    _done(server.run(Settings(), lambda line: console.print(line, markup=False, highlight=False)))


@app.command("trigger", epilog="Example: pipeline trigger --partner caritas-lu")
def trigger_command(partners: Partners = None) -> None:
    """Start a run on the server now: nightly, or one partner's ingest; prints the run's URL.

    The server is the one `pipeline server` runs, or the one PREFECT_API_URL names."""
    from pipeline_flows import server

    ctx = _context()
    os.environ.setdefault("PREFECT_API_URL", server.api_url(ctx.settings.prefect_port))
    from pipeline_flows.deployments import trigger

    for url in trigger(ctx, partners):
        console.print(f"started: {url}")


@app.command("run", epilog="Example: pipeline run --partner caritas-lu --partner stadt-lu")
def run_command(partners: Partners = None) -> None:
    """Run the nightly flow now, in-process without a server (all partners, or those named)."""
    _done(_flow(_context(), partners))


def _flow(ctx: Context, partners: list[str] | None) -> int:
    """Run the nightly flow in-process (Prefect's ephemeral mode without a server) and print the outcome.

    Prefect's temporary API servers left running by killed runs on this data folder are stopped first, and
    this run is marked as the one starting its own (see pipeline.service.orphans), which it starts before the
    flow (pipeline_flows.temporary_server)."""
    settings = ctx.settings
    for pid in orphans.stop_left_behind(settings.data_dir):
        console.print(f"[yellow]stopped Prefect's temporary server (pid {pid}), left running by a killed run[/yellow]")
    orphans.mark(settings.data_dir)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's 20 s for its temporary API server to start are too few on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from pipeline_flows import temporary_server
    from pipeline_flows.nightly import nightly

    temporary_server.start()
    state = nightly(partners, settings, return_state=True)
    _print_status(ctx)
    colour = "green" if state.is_completed() else "red"
    console.print(f"[{colour}]{state.type.value}[/{colour}]: {escape(str(state.message))}")
    return 0 if state.is_completed() else 1


def _reading(settings: Settings, command: str, quiet: bool = False) -> AbstractContextManager[None]:
    """The writer lock, for a command that only reads the working file. DuckDB lets one process at a time
    open the file, so a command run while a pipeline step writes would fail on DuckDB's lock: it waits for
    the step instead, like a writer, and says whom it waits for (on stderr when quiet: stdout holds JSON)."""
    say: Callable[[str], None] = err_console.print if quiet else console.print
    return writer_lock(settings.db_path, f"{command} (reading)", settings.writer_wait_seconds, say)


@app.command("status", epilog="Example: pipeline status --json")
def status_command(as_json: AsJson = False) -> None:
    """The last run of every partner: fetched, loaded, quarantined, duplicates, gone, error; drift and rejected
    drop files below."""
    from pipeline.load import runs

    ctx = _context()
    settings = ctx.settings
    if not as_json:
        _print_status(ctx)
        return
    with _reading(settings, "status", quiet=True), closing(ctx.connect()) as con:
        frame = runs.last_runs(con, settings.sql_dir)
    columns = ["partner_id", "status", "finished_at", *runs.COUNTS]
    rows = frame[columns].assign(
        finished_at=frame["finished_at"].dt.tz_convert(settings.timezone),
        off_by=frame["fetched"] - frame[list(runs.COUNTS[1:])].sum(axis=1),
        gone=frame["gone"].astype("Int64"),
        error=frame["error"],
    )
    _print_json(rows)


def _print_status(ctx: Context) -> None:
    import pandas as pd

    from pipeline.contract import drift
    from pipeline.load import runs

    settings = ctx.settings
    with _reading(settings, "status"), closing(ctx.connect()) as con:
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
    _print_rejected_files(ctx)


def _print_rejected_files(ctx: Context) -> None:
    """The drop-folder files moved aside as unreadable, with their reasons, until the operator removes them.
    A registry that does not load costs this list only, never the status table above it."""
    from pipeline.extract.files import REJECTED, rejected_files

    try:
        registry = ctx.registry
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


@app.command("check", epilog="Example: pipeline check --connect")
def check_command(
    connect: Annotated[
        bool,
        typer.Option(
            "--connect",
            help="also reach every partner (one authenticated look at its form, nothing loaded) and compare its "
            "answer labels with the codebook's",
        ),
    ] = False,
) -> None:
    """Validate the codebook and the partner registry, secrets included; name the repeat groups raw holds."""
    from pipeline.contract import drift
    from pipeline.registry import load_registry

    ctx = _context()
    settings, codebook = ctx.settings, ctx.codebook
    registry = load_registry(settings.partners_file, codebook, check_secrets=True)
    console.print(
        f"codebook {codebook.instrument.code} {codebook.latest_version}: {len(codebook.items)} items; "
        f"registry: {len(registry.partners)} partners, {len(registry.waves)} waves — valid"
    )
    if settings.db_path.exists():
        with _reading(settings, "check"), closing(ctx.connect()) as con:
            for line in drift.repeat_groups(con, settings.sql_dir):
                console.print(escape(line))
    _done(_connect(settings, codebook, registry) if connect else OK)


def _connect(settings: Settings, codebook: Codebook, registry: Registry) -> int:
    """One line per partner: reached and authorised (what was read), or why not; then each way its answer labels
    disagree with the codebook's. 1 when a partner failed or a label disagrees."""
    from pipeline.contract import labels

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


@app.command("demo", epilog="Example: PIPELINE_DATA_DIR=/tmp/demo pipeline demo")
def demo_command() -> None:
    """Run the whole pipeline on embedded demo partners (emulated on 127.0.0.1), then show what it published."""
    from pipeline.context import Context
    from pipeline.publish import release
    from pipeline_testkit import demo
    from pipeline_testkit.demo import bad_input

    default = Settings()
    data_dir = default.data_dir / "demo" if "PIPELINE_DATA_DIR" not in os.environ else default.data_dir
    with demo.running(default.model_copy(update={"data_dir": data_dir})) as world:
        settings = world.settings
        generated_key = settings.respondent_key_env not in os.environ
        os.environ.update(world.secrets)
        for kind, service in world.services.items():
            where = f" on {service.url}" if service.server else ""
            console.print(f"{kind} emulator{where} serving {len(service.served)} demo partners")
        if generated_key:
            console.print(
                f"Respondent key: generated for the demo and kept in {settings.data_dir / 'respondent.key'} "
                f"(in production it comes from {settings.respondent_key_env})"
            )
        for case in bad_input.plant(world):
            planted = f"Bad input planted at {case.partner_id}, response {case.source_id}: {case.case}"
            console.print(escape(f"{planted} → {case.outcome}"))
        code = _flow(Context(settings), None)
    console.print(f"Working DuckDB:    {settings.db_path}")
    console.print(f"Analyst DuckDB:    {settings.analyst_db_path}")
    current = release.current(settings)
    if current is not None:
        _print_audit(current)
        for path in sorted(current.directory.rglob("*")):
            if path.is_file():
                console.print(f"  {path.relative_to(current.directory)}")
    _done(code)


if __name__ == "__main__":
    sys.exit(main())
