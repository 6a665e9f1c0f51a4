"""A fault-injecting HTTP proxy on 127.0.0.1, put in front of an emulator: each queued fault answers one request,
then requests pass through to the emulator unchanged (the Host header included, so the links it builds lead
back through the proxy), but for `rewrites`: bytes replaced in every answer's body, e.g. a token planted in one
response replaced by bytes that are no UTF-8, which the emulators (like most servers) never write themselves."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Fault = Literal["reset", "502", "503", "429", "truncate", "delay", "trickle", "503-long-wait"]
# the faults a pull gets over by itself (retries, or a run again for a body cut short)
FAULTS: tuple[Fault, ...] = ("reset", "502", "503", "429", "truncate", "delay")
DELAY_SECONDS = 1.5
# "trickle" sends the answer a byte at a time, one every TRICKLE_INTERVAL, and gives up after TRICKLE_SECONDS
TRICKLE_INTERVAL = 0.5
TRICKLE_SECONDS = 60.0
LONG_WAIT = 121  # the Retry-After of "503-long-wait", as one partner's server sent it


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults: deque[Fault | None] = deque()
        self.injected: list[Fault] = []
        self.requests = 0
        self.rewrites: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def next_fault(self) -> Fault | None:
        with self._lock:
            self.requests += 1
            fault = self.faults.popleft() if self.faults else None
            if fault:
                self.injected.append(fault)
            return fault


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802
        self._relay()

    def do_POST(self) -> None:  # noqa: N802
        self._relay()

    def do_DELETE(self) -> None:  # noqa: N802
        self._relay()

    def _relay(self) -> None:
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = proxy.next_fault()
        if fault == "reset":
            # RST instead of FIN: the client sees "connection reset by peer"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        if fault in ("502", "503", "429", "503-long-wait"):
            self.send_response(int(fault[:3]))
            if fault == "429":
                self.send_header("Retry-After", "1")
            if fault == "503-long-wait":
                self.send_header("Retry-After", str(LONG_WAIT))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if fault == "delay":
            time.sleep(DELAY_SECONDS)
        status, headers, content = self._forward(proxy, body)
        for planted, sent in proxy.rewrites.items():
            content = content.replace(planted, sent)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if fault == "truncate":
            self.wfile.write(content[: len(content) // 2])
            self.close_connection = True
            return
        if fault == "trickle":
            self._trickle(content)
            return
        self.wfile.write(content)

    def _trickle(self, content: bytes) -> None:
        """Never a pause long enough for a socket timeout, yet the body takes hours (closed after a minute)."""
        self.close_connection = True
        self.wfile.flush()
        given_up = time.monotonic() + TRICKLE_SECONDS
        for byte in content:
            if time.monotonic() > given_up:
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the client gave up first
                return
            time.sleep(TRICKLE_INTERVAL)

    def _forward(self, proxy: FaultProxy, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
        try:
            conn.request(self.command, self.path, body=body or None, headers=dict(self.headers.items()))
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""
