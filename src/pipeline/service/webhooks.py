"""The webhook receiver: a partner signals "new responses are available" with a signed `POST /hooks/{partner}`.

A call carries two headers (docs/onboarding.md shows partners a curl line):

    X-Timestamp: <unix seconds>
    X-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>

where secret is the value of the partner's `secret_env` variable, the credential it already shares with us.
Answers: 202 with the event id when the call is valid and the event was emitted; 404 for an unknown partner;
413 for a body above the cap; 401 for a missing or wrong signature or a timestamp outside the window (older
than `webhook_replay_window_seconds`, or ahead by more than the clock skew); 409 for a call already received
(same signature within the window, also when the receiver restarted in between); 503 when the partner's secret
is not set or the event could not be sent. Only a valid call emits an event.

Every valid call emits, even in a storm: the receiver cannot know whether a run for the partner still waits or
already pulls, and its events may arrive faster than the server creates runs. The ingest-partner runs merge
instead (pipeline_flows/ingest_partner.py), and the served deployments run a bounded number at once.

The receiver knows nothing of Prefect: it is given an emitter with the shape of `prefect.events.emit_event`
(pipeline_flows/receiver.py passes that one), so every check here is tested without a server, and the library keeps
its rule of not importing Prefect.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pipeline.context import Context
from pipeline.errors import ConfigError
from pipeline.registry import Partner
from pipeline.settings import Settings

EVENT = "survey.responses.available"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
# (event, resource, payload) → the emitted event's id, or None when it could not be emitted.
Emitter = Callable[[str, dict[str, str], dict[str, Any]], str | None]

log = logging.getLogger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Signature value of a call: what a partner computes, and what the receiver compares with."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def resource_id(partner_id: str) -> str:
    """The event's resource; the ingest-partner deployment's trigger reads the partner id back from it."""
    return f"partner.{partner_id}"


class _Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


class _SeenSignatures:
    """Signatures of calls already turned into an event: a second call with one of them is a replay.

    Kept in a SQLite file beside the working data, so that a restart of the receiver (a deployment, a crash)
    does not open the window again for calls it accepted before. Not the DuckDB file: opening it would take the
    one writer's place. An entry lives as long as its timestamp is inside the window; beyond that the timestamp
    check refuses the call anyway, so expired entries are deleted and the file is bounded by the rate of
    authenticated calls. Only a digest of the signature is stored. A call whose event could not be emitted is
    not remembered, so the partner may send it again.
    """

    def __init__(self, path: Path, window_seconds: int) -> None:
        self._window = window_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created for the operator alone before SQLite opens it; SQLite gives its journal the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        path.chmod(0o600)
        # Autocommit: each statement is durable when it returns. The app may be built in another thread than the
        # event loop that then alone uses the connection.
        self._con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._con.execute(
            "create table if not exists seen_calls (partner_id text not null, signature_sha256 text not null, "
            "expires_at real not null, primary key (partner_id, signature_sha256))"
        )

    def seen(self, partner_id: str, signature: str, now: float) -> bool:
        self._con.execute("delete from seen_calls where expires_at < ?", [now])
        found = self._con.execute(
            "select 1 from seen_calls where partner_id = ? and signature_sha256 = ?", [partner_id, _digest(signature)]
        )
        return found.fetchone() is not None

    def remember(self, partner_id: str, signature: str, timestamp: int) -> None:
        self._con.execute(
            "insert or replace into seen_calls values (?, ?, ?)",
            [partner_id, _digest(signature), timestamp + self._window],
        )


def _digest(signature: str) -> str:
    return hashlib.sha256(signature.encode("latin-1")).hexdigest()


def create_app(ctx: Context, emit: Emitter, clock: Callable[[], float] = time.time) -> FastAPI:
    """The receiver for the partners of ctx's registry (read once, at start), emitting through emit."""
    settings = ctx.settings
    partners = {p.id: p for p in ctx.registry.partners}
    seen = _SeenSignatures(settings.webhook_calls_path, settings.webhook_replay_window_seconds)
    app = FastAPI(title="ChancenCheckLU webhook receiver", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/hooks/{partner_id}")
    async def hook(partner_id: str, request: Request) -> JSONResponse:
        try:
            partner = partners.get(partner_id)
            if partner is None:
                raise _Rejected(404, f"unknown partner {partner_id!r}")
            body = await _body(request, settings.webhook_max_body_bytes)
            timestamp = _verified_timestamp(partner, request, body)
            now = clock()
            _check_window(timestamp, now, settings)
            signature = request.headers[SIGNATURE_HEADER]
            if seen.seen(partner.id, signature, now):
                raise _Rejected(409, "this call was already received (replay)")
        except _Rejected as rejected:
            # repr: the partner id comes from the caller's URL and may carry anything, line breaks included.
            log.warning("webhook %r rejected (%d): %s", partner_id, rejected.status, rejected.reason)
            return JSONResponse({"detail": rejected.reason}, status_code=rejected.status)
        payload = {"body_sha256": hashlib.sha256(body).hexdigest(), "body_bytes": len(body), "timestamp": timestamp}
        event_id = emit(EVENT, {"prefect.resource.id": resource_id(partner.id)}, payload)
        if event_id is None:
            log.error("webhook %s: valid, but the event could not be emitted; is the Prefect server up?", partner.id)
            return JSONResponse({"detail": "event could not be emitted; retry later"}, status_code=503)
        seen.remember(partner.id, signature, timestamp)
        log.info("webhook %s accepted: event %s", partner.id, event_id)
        return JSONResponse({"event_id": event_id, "event": EVENT, "partner": partner.id}, status_code=202)

    return app


async def _body(request: Request, cap: int) -> bytes:
    """The body, refused as soon as it is known to exceed cap (declared length first, then as it streams)."""
    declared = request.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _Rejected(413, f"body larger than {cap} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            raise _Rejected(413, f"body larger than {cap} bytes")
    return bytes(body)


def _verified_timestamp(partner: Partner, request: Request, body: bytes) -> int:
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not timestamp.isdigit() or not signature.startswith("sha256="):
        raise _Rejected(401, f"{TIMESTAMP_HEADER} (unix seconds) and {SIGNATURE_HEADER} (sha256=<hex>) are required")
    try:
        secret = partner.secret()
    except ConfigError as exc:
        # The operator's problem, not the partner's: the message names the variable, never a value.
        log.error("webhook %s cannot be verified: %s", partner.id, exc)
        raise _Rejected(503, "the receiver cannot verify this partner's calls yet; retry later") from exc
    # Header values arrive decoded as latin-1; bytes compare in constant time whatever a caller sent.
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode("latin-1")):
        raise _Rejected(401, "signature does not match")
    return int(timestamp)


def _check_window(timestamp: int, now: float, settings: Settings) -> None:
    if timestamp < now - settings.webhook_replay_window_seconds:
        raise _Rejected(401, f"timestamp older than {settings.webhook_replay_window_seconds} s (replay)")
    if timestamp > now + settings.webhook_clock_skew_seconds:
        raise _Rejected(401, "timestamp in the future; check the sender's clock")
