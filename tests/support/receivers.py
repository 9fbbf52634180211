"""Loopback receivers of alerts, in a thread: a webhook receiver and a Telegram Bot API
server speaking its request and answer format. Real HTTP servers (no mocks); each can be
stopped and started again on the same port (a receiver that is down refuses connections).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.support.redis_server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Behaviour:
    """What the receiver answers: ``status`` (and ``Retry-After``), after ``delay_s``.
    ``script``: statuses for the next requests, one each, before ``status`` applies."""

    status: int = 200
    retry_after: str | None = None
    delay_s: float = 0.0
    script: list[int] = field(default_factory=list)


class _Server:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.arrived = 0  # requests that reached the handler (counted before any delay)
        self.behaviour = Behaviour()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, received: Received) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError

    def _next_status(self) -> tuple[int, str | None, float]:
        with self._lock:
            b = self.behaviour
            status = b.script.pop(0) if b.script else b.status
            return status, b.retry_after, b.delay_s

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                got = Received(self.path, dict(self.headers.items()), body, time.time())
                with server._lock:
                    server.arrived += 1
                status, headers, out = server.answer(got)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:  # the sender is gone (a test killed it): nobody to answer
                    return

            def log_message(self, format: str, *args: Any) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def wait_for(self, count: int, *, timeout_s: float, accepted_only: bool = True) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.accepted() if accepted_only else self.received) >= count:
                return
            time.sleep(0.05)
        got = len(self.accepted() if accepted_only else self.received)
        raise AssertionError(f"{got} of {count} requests within {timeout_s} s")

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.headers.get("X-Accepted") == "1"]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.arrived = 0


class WebhookReceiver(_Server):
    """Records every POST; a request answered 2xx is marked accepted."""

    def answer(self, received: Received) -> tuple[int, dict[str, str], bytes]:
        status, retry_after, delay_s = self._next_status()
        if delay_s:
            time.sleep(delay_s)
        if 200 <= status < 300:
            received.headers["X-Accepted"] = "1"
        self.record(received)
        headers = {"Content-Type": "application/json"}
        if retry_after is not None and status == 429:
            headers["Retry-After"] = retry_after
        return status, headers, b'{"ok":true}' if status < 300 else b'{"error":"no"}'

    def event_ids(self) -> list[str]:
        return [r.headers["X-Perpwatch-Event-Id"] for r in self.accepted()]


class BotApiServer(_Server):
    """``POST /bot<token>/sendMessage`` as the Telegram Bot API answers it."""

    def answer(self, received: Received) -> tuple[int, dict[str, str], bytes]:
        status, retry_after, _ = self._next_status()
        headers = {"Content-Type": "application/json"}
        if not received.path.startswith("/bot") or not received.path.endswith("/sendMessage"):
            self.record(received)
            return 404, headers, b'{"ok":false,"error_code":404,"description":"Not Found"}'
        if status == 200:
            received.headers["X-Accepted"] = "1"
            self.record(received)
            msg = received.json()
            result = {
                "message_id": len(self.received),
                "date": int(time.time()),
                "chat": {"id": msg.get("chat_id")},
                "text": msg.get("text"),
            }
            return 200, headers, json.dumps({"ok": True, "result": result}).encode()
        self.record(received)
        answer: dict[str, Any] = {
            "ok": False,
            "error_code": status,
            "description": "Too Many Requests: retry later"
            if status == 429
            else "Bad Request: chat not found",
        }
        if status == 429:
            answer["parameters"] = {"retry_after": int(retry_after or "1")}
        return status, headers, json.dumps(answer).encode()
