"""Runs killed outright (SIGKILL) at a named point, then the next start: nothing they left behind outlives it.

A killed `pipeline run` leaves Prefect's temporary API server running and its partner's ledger row at running;
a killed publication leaves its `.building-<id>/` folder. Each test kills a real `pipeline` process, checks
that the leftover is there, starts the pipeline again and checks that it is gone, with the killed run shown as
interrupted. Processes are told apart by what /proc says of them, independently of pipeline.service.processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from pipeline.context import Context
from pipeline.load.ingest import ingest_partner
from pipeline.publish import release
from pipeline.settings import Settings
from pipeline.transform.marts import build_marts
from pipeline_flows import cli
from pipeline_testkit.demo import Demo
from tests.conftest import query

PARTNER = "hwg-lu"  # on the Kobo emulator
START_SECONDS = 150.0


class Stall:
    """A partner that accepts the connection and never answers: a run asking it hangs there until killed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.asked = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self._held.append(connection)
            self.asked.set()

    def close(self) -> None:
        self.listener.close()
        for connection in self._held:
            connection.close()


def _point_at(settings: Settings, partner_id: str, url: str) -> str:
    """Point the partner's connector in the registry the pipeline reads at url; returns where it pointed."""
    data = yaml.safe_load(settings.partners_file.read_text(encoding="utf-8"))
    partner = next(p for p in data["partners"] if p["id"] == partner_id)
    before, partner["connector"]["base_url"] = partner["connector"]["base_url"], url
    settings.partners_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return before


@contextmanager
def pipeline(*args: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `pipeline` command in a process of its own, in this process's environment; killed at the end."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline_flows.cli", *args], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _running(pid: int) -> bool:
    """Alive: a zombie (killed, not reaped yet by whoever adopted it) is not."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _temporary_servers_of(pid: int) -> list[int]:
    """Child processes of pid that are Prefect's temporary API server."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if fields is not None and int(fields[1]) == pid and b"prefect.server.api.server:create_app" in argv:
            found.append(int(entry.name))
    return found


def _until(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not check():  # type: ignore[operator]
        assert process.poll() is None, f"ended with {process.returncode} before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} within {START_SECONDS:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)


def _shown(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


@contextmanager
def killed_mid_ingest(settings: Settings, log: Path) -> Iterator[tuple[int, int]]:
    """`pipeline run` of PARTNER killed at the named point "the partner is asked for its first page" (its ledger
    row is written then, and Prefect's temporary server is up); yields the PIDs of the run and of its server,
    which is killed at the end if it still runs."""
    stall = Stall()
    emulator = _point_at(settings, PARTNER, stall.url)
    try:
        with pipeline("run", "--partner", PARTNER, log=log) as killed:
            _until(stall.asked.is_set, "request to the partner", killed, log)
            [server] = _temporary_servers_of(killed.pid)
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
    finally:
        stall.close()
        _point_at(settings, PARTNER, emulator)
    try:
        yield killed.pid, server
    finally:
        if _running(server):
            os.kill(server, signal.SIGKILL)


def test_a_partner_killed_mid_run_shows_interrupted_and_its_next_run_marks_it_so(
    world: Demo,
    run_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PIPELINE_HTTP_TIMEOUT_SECONDS", "600")  # the stalled request waits for the kill
    with killed_mid_ingest(run_settings, tmp_path / "killed.log") as (pid, _):
        [(killed_run, status)] = query(run_settings, "select run_id, status from ops.runs")
        assert status == "running"

        capsys.readouterr()
        assert cli.main(["status"]) == 0
        shown = _shown(capsys)
        assert f"{PARTNER} │ interrupted │" in shown
        assert f"INTERRUPTED {PARTNER}: partner {PARTNER}: run interrupted: its process (pid {pid})" in shown
        assert query(run_settings, "select status from ops.runs") == [("running",)], "status only reads"

        run = ingest_partner(Context.from_environment(), PARTNER, "next")

    rows = {
        run_id: (status, error)
        for run_id, status, error in query(run_settings, "select run_id, status, error from ops.runs")
    }
    assert rows.keys() == {killed_run, "next"}
    assert rows["next"] == ("ok", None)
    status, error = rows[killed_run]
    assert status == "interrupted"
    assert error.startswith(
        f"partner {PARTNER}: run interrupted: its process (pid {pid}) ended before the run finished"
    )
    assert run.status == "ok"


@pytest.mark.parametrize("point", ["server started", "partner asked"])
def test_the_next_run_stops_the_temporary_server_a_killed_run_left_running(
    point: str, world: Demo, run_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed as soon as Prefect's server process exists (still starting: no PID can have been written down
    yet), or once the run is well under way."""
    monkeypatch.setenv("PIPELINE_HTTP_TIMEOUT_SECONDS", "600")
    stall = Stall()
    emulator = _point_at(run_settings, PARTNER, stall.url)
    log = tmp_path / "killed.log"
    servers: list[int] = []
    try:
        with pipeline("run", "--partner", PARTNER, log=log) as killed:
            if point == "server started":
                _until(lambda: servers.extend(_temporary_servers_of(killed.pid)) or servers, "server", killed, log)
            else:
                _until(stall.asked.is_set, "request to the partner", killed, log)
                servers.extend(_temporary_servers_of(killed.pid))
            killed.send_signal(signal.SIGKILL)
            killed.wait(timeout=30)
        stall.close()
        _point_at(run_settings, PARTNER, emulator)
        [server] = servers
        assert _running(server), "Prefect's server died with the run: nothing left to stop"

        next_log = tmp_path / "next.log"
        with pipeline("run", "--partner", PARTNER, log=next_log) as again:
            again.wait(timeout=START_SECONDS)
        said = " ".join(next_log.read_text().split())
        assert again.returncode == 0, said[-3000:]
        assert not _running(server), f"Prefect's server (pid {server}) of the killed run still runs: {said[-3000:]}"
        assert f"stopped Prefect's temporary server (pid {server}), left running by a killed run" in said
    finally:
        stall.close()
        for pid in servers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_publication_killed_while_building_leaves_no_build_folder_after_the_next_one(
    world: Demo, run_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for partner in world.registry.partners:
        ingest_partner(Context(run_settings), partner.id, "setup")
    build_marts(Context(run_settings))
    log = tmp_path / "killed.log"
    with pipeline("publish", log=log) as killed:
        # the named point: the release's DuckDB file is written in its build folder
        _until(lambda: any(run_settings.releases_dir.glob(".building-*/*.duckdb")), "release DuckDB file", killed, log)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    [stale] = run_settings.releases_dir.glob(".building-*")
    assert release.current(run_settings) is None

    assert cli.main(["publish"]) == 0
    made = release.current(Settings())
    assert made is not None and stale.name != f".building-{made.id}", "the stale folder was only rebuilt"
    assert not stale.exists(), f"{stale.name} left by the killed publication is still there"
    assert list(run_settings.releases_dir.glob(".building-*")) == []
    kept = [p.name for p in (run_settings.data_dir / release.FIGURES).iterdir()]
    assert kept == [made.id], "the killed build's true figures are still kept"
