"""The webhook receiver without a Prefect server: signatures, replays, body cap and unknown partners, over HTTP
to uvicorn on 127.0.0.1, with an emitter that records the events it is asked to send."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from pipeline.context import Context
from pipeline.service.webhooks import EVENT, create_app, sign
from pipeline.settings import Settings
from pipeline_testkit import demo

PARTNER = "caritas-lu"
SECRET = "kobo-token-of-caritas"
OTHER_SECRET = "kobo-token-of-stadt"
NOW = 1_790_000_000
BODY = b'{"form": "aCaritasLu2025Selbstcheck", "new": 3}'


class Recorder:
    """An emitter that keeps what it was asked to emit and answers with an id, or with None (a failure)."""

    def __init__(self, works: bool = True) -> None:
        self.events: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.works = works

    def __call__(self, event: str, resource: dict[str, str], payload: dict[str, Any]) -> str | None:
        if not self.works:
            return None
        self.events.append((event, resource, payload))
        return f"event-{len(self.events)}"


@pytest.fixture
def emitted() -> Recorder:
    return Recorder()


class Client:
    """Calls to a receiver served by uvicorn on a free loopback port, in a thread of the test."""

    def __init__(self, app: FastAPI) -> None:
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Client:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def post(self, path: str, content: Any, headers: dict[str, Any]) -> requests.Response:
        return requests.post(self.url + path, data=content, headers=headers, timeout=10)


@pytest.fixture
def hook_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DEMO_TOKEN_CARITAS_LU", SECRET)
    monkeypatch.setenv("DEMO_TOKEN_STADT_LU", OTHER_SECRET)
    return Settings(partners_file=demo.DEMO_REGISTRY, data_dir=tmp_path / "data", webhook_max_body_bytes=1024)


@pytest.fixture
def client(emitted: Recorder, hook_settings: Settings) -> Iterator[Client]:
    with Client(create_app(Context(hook_settings), emitted, clock=lambda: NOW)) as running:
        yield running


def _headers(secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY) -> dict[str, Any]:
    return {"X-Timestamp": str(timestamp), "X-Signature": sign(secret, str(timestamp), body)}


def test_signed_call_emits_one_event_for_its_partner_and_answers_202_with_its_id(
    client: Client, emitted: Recorder
) -> None:
    answer = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())

    assert answer.status_code == 202
    assert answer.json() == {"event_id": "event-1", "event": EVENT, "partner": PARTNER}
    [(event, resource, payload)] = emitted.events
    assert (event, resource) == (EVENT, {"prefect.resource.id": "partner.caritas-lu"})
    assert payload["body_bytes"] == len(BODY) and payload["timestamp"] == NOW


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(_headers(secret=OTHER_SECRET), id="another partner's secret"),
        pytest.param(_headers(body=b'{"new": 4}'), id="signature over another body"),
        pytest.param(_headers(timestamp=NOW - 1) | {"X-Timestamp": str(NOW)}, id="signature over another time"),
        pytest.param({"X-Timestamp": str(NOW), "X-Signature": "sha256=" + "0" * 64}, id="made up"),
        pytest.param({"X-Timestamp": str(NOW), "X-Signature": "sha256=ünïcödé".encode("latin-1")}, id="not hex"),
        pytest.param({"X-Timestamp": str(NOW)}, id="no signature"),
        pytest.param({"X-Signature": _headers()["X-Signature"]}, id="no timestamp"),
    ],
)
def test_call_without_a_valid_signature_is_401_and_emits_nothing(
    client: Client, emitted: Recorder, headers: dict[str, str]
) -> None:
    answer = client.post(f"/hooks/{PARTNER}", content=BODY, headers=headers)

    assert answer.status_code == 401
    assert emitted.events == []


def test_call_signed_more_than_five_minutes_ago_is_refused_as_a_replay(client: Client, emitted: Recorder) -> None:
    stale = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW - 301))
    recent = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW - 299))

    assert stale.status_code == 401 and "replay" in stale.json()["detail"]
    assert recent.status_code == 202
    assert len(emitted.events) == 1


def test_call_from_the_future_beyond_the_clock_skew_is_refused(client: Client, emitted: Recorder) -> None:
    ahead = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW + 31))
    skewed = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW + 29))

    assert ahead.status_code == 401 and "future" in ahead.json()["detail"]
    assert skewed.status_code == 202
    assert len(emitted.events) == 1


def test_the_same_call_received_twice_emits_once(client: Client, emitted: Recorder) -> None:
    first = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())
    again = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())
    next_one = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW - 1))

    assert (first.status_code, again.status_code, next_one.status_code) == (202, 409, 202)
    assert len(emitted.events) == 2


def test_a_call_received_before_the_receiver_restarted_is_still_a_replay(hook_settings: Settings) -> None:
    before, after = Recorder(), Recorder()
    with Client(create_app(Context(hook_settings), before, clock=lambda: NOW)) as client:
        first = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())
    with Client(create_app(Context(hook_settings), after, clock=lambda: NOW + 60)) as restarted:
        again = restarted.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())
        other = restarted.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW + 1))

    assert (first.status_code, again.status_code, other.status_code) == (202, 409, 202)
    assert (len(before.events), len(after.events)) == (1, 1)


def test_the_remembered_calls_are_the_operators_alone_and_forgotten_once_expired(hook_settings: Settings) -> None:
    now = [float(NOW)]
    with Client(create_app(Context(hook_settings), Recorder(), clock=lambda: now[0])) as client:
        for age in range(5):
            client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW - age))
        remembered = _remembered(hook_settings.data_dir)
        # past the window of all five: the next call's check clears them
        now[0] = NOW + 301
        later = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers(timestamp=NOW + 301))

    assert later.status_code == 202
    assert (remembered, _remembered(hook_settings.data_dir)) == (5, 1)
    [stored] = [p for p in hook_settings.data_dir.iterdir() if p.is_file()]
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def _remembered(data_dir: Path) -> int:
    """Rows of the receiver's file, whatever its name and table: it is the only file the receiver writes."""
    [path] = [p for p in data_dir.iterdir() if p.is_file()]
    con = sqlite3.connect(path)
    try:
        tables = [name for (name,) in con.execute("select name from sqlite_master where type = 'table'")]
        return sum(con.execute(f'select count(*) from "{name}"').fetchone()[0] for name in tables)
    finally:
        con.close()


def test_unknown_partner_is_404_and_emits_nothing(client: Client, emitted: Recorder) -> None:
    answer = client.post("/hooks/nobody-lu", content=BODY, headers=_headers())

    assert answer.status_code == 404 and "nobody-lu" in answer.json()["detail"]
    assert emitted.events == []


def test_body_above_the_cap_is_413_whether_declared_or_streamed(client: Client, emitted: Recorder) -> None:
    big = b"x" * 1025
    declared = client.post(f"/hooks/{PARTNER}", content=big, headers=_headers(body=big))
    streamed = client.post(f"/hooks/{PARTNER}", content=iter([big[:600], big[600:]]), headers=_headers(body=big))
    at_cap = client.post(f"/hooks/{PARTNER}", content=big[:1024], headers=_headers(body=big[:1024]))

    assert (declared.status_code, streamed.status_code, at_cap.status_code) == (413, 413, 202)
    assert len(emitted.events) == 1


def test_partner_whose_secret_is_not_set_is_503_naming_the_variable_to_the_operator_only(
    client: Client, emitted: Recorder, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DEMO_TOKEN_CARITAS_LU")
    with caplog.at_level(logging.INFO, logger="pipeline.service.webhooks"):
        answer = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())

    assert answer.status_code == 503 and "DEMO_TOKEN" not in answer.text
    assert "DEMO_TOKEN_CARITAS_LU" in caplog.text
    assert emitted.events == []


def test_event_that_cannot_be_emitted_is_503_and_the_same_call_may_be_sent_again(hook_settings: Settings) -> None:
    emitter = Recorder(works=False)
    app = create_app(Context(hook_settings), emitter, clock=lambda: NOW)

    with Client(app) as client:
        failed = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())
        emitter.works = True
        again = client.post(f"/hooks/{PARTNER}", content=BODY, headers=_headers())

    assert (failed.status_code, again.status_code) == (503, 202)
    assert len(emitter.events) == 1


def test_no_secret_and_no_signature_reaches_the_log(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    calls = [_headers(), _headers(), _headers(secret=OTHER_SECRET), _headers(timestamp=NOW - 600)]
    with caplog.at_level(logging.DEBUG):
        for headers in calls:
            client.post(f"/hooks/{PARTNER}", content=BODY, headers=headers)
        client.post("/hooks/nobody-lu", content=BODY, headers=_headers())

    assert caplog.records, "the receiver logs every decision"
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in caplog.text
    for headers in calls:
        assert headers["X-Signature"].removeprefix("sha256=") not in caplog.text


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the signing recipe of docs/onboarding.md uses openssl")
def test_the_documented_signing_recipe_with_openssl_gives_the_signature_the_receiver_expects() -> None:
    timestamp = str(int(time.time()))
    body = BODY.decode()
    recipe = 'printf \'%s.%s\' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed \'s/^.* //\''
    done = subprocess.run(
        ["bash", "-c", recipe],
        env={"TS": timestamp, "BODY": body, "SECRET": SECRET, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert f"sha256={done.stdout.strip()}" == sign(SECRET, timestamp, BODY)
