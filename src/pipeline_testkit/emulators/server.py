"""The test server framework every emulator shares: a threaded HTTP server on loopback, started and stopped
by its owner, with JSON helpers and a queue of injected faults."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    status: int
    retry_after: int | None = None


class EmulatorServer:
    """Serves handler_class on 127.0.0.1:port (0 = a free port) from a daemon thread."""

    def __init__(self, handler_class: type[BaseHTTPRequestHandler], state: object, port: int = 0) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler_class)
        self.httpd.daemon_threads = True
        self.httpd.state = state  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="emulator", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class DemoService:
    """What an emulator module's serve_demo() stands up for the demo partners of its tool.

    served: each partner's responses in the tool's own shape; env: the partners' secrets (environment
    variable → value); overrides: connector settings to point each partner at the emulator (URL or folder).
    """

    emulator: object = None
    server: EmulatorServer | None = None
    served: dict[str, list[Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        assert self.server is not None, "this tool's demo has no server"
        return self.server.url

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class FaultQueue:
    """Faults to answer the next requests with, then normal service again."""

    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    def add(self, count: int, status: int, retry_after: int | None = None) -> None:
        with self._lock:
            self._faults.extend(Fault(status, retry_after) for _ in range(count))

    def next(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # the round trip of a partner's server out on the internet (benchmarks set it; loopback has none)
    latency_seconds = 0.0

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        time.sleep(self.latency_seconds)
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_fault(self, fault: Fault) -> None:
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        self.send_json(fault.status, {"detail": "Service temporarily unavailable"}, headers)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: the tests and the demo report what matters themselves."""
