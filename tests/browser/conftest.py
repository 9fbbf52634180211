"""A real perpwatch (``perpwatch serve``, sim market, its own redis-server) and Debian's
headless Chromium driven by Playwright (:mod:`perpwatch.testing.browser`).

Every page a test opens is watched: console errors, uncaught exceptions, and any request
(HTTP or WebSocket) to a host other than loopback are collected, and the test fails on
them when it ends, unless it expects some (a test that stops the server sees the
browser's own "connection refused" errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from perpwatch.testing.browser import launch, leaves_loopback
from perpwatch.testing.processes import PerpwatchProcess
from tests.support.redis_server import RedisServer, free_port

pytestmark = pytest.mark.timeout(180)


def serve_env(redis_url: str) -> dict[str, str]:
    return {
        "MARKET": "sim",
        "REDIS_URL": redis_url,
        "SERVE_WORKERS": "0",
        "HAMA_TIMEFRAMES": "15m,1h,4h",
        "LOG_LEVEL": "WARNING",
    }


@dataclass
class Server:
    base: str
    port: int
    env: dict[str, str]
    redis_url: str
    proc: PerpwatchProcess | None = None

    def start(self) -> Server:
        self.proc = PerpwatchProcess(["serve", "--port", str(self.port)], env=self.env)
        self.proc.start()
        self.proc.wait_http(f"{self.base}/health/ready", timeout_s=60)
        wait_for(lambda: self.status()["last_run"] is not None, 60, "no first refresh")
        wait_for(  # and the further timeframes filled in
            lambda: all(t["last_run"] for t in self.status()["timeframes"]), 60, "no 1h/4h"
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def status(self) -> dict[str, Any]:
        r = httpx.get(f"{self.base}/api/gainer-analysis/scheduler/status", timeout=10)
        r.raise_for_status()
        data: dict[str, Any] = r.json()["data"]
        return data


def wait_for(pred: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = pred()
        if got:
            return got
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def start_server(**env: str) -> Iterator[Server]:
    with RedisServer() as redis_server:
        port = free_port()
        url = redis_server.url
        server = Server(f"http://127.0.0.1:{port}", port, {**serve_env(url), **env}, url)
        try:
            yield server.start()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """One perpwatch for the module's tests that leave it running."""
    yield from start_server()


@pytest.fixture
def own_server() -> Iterator[Server]:
    """A perpwatch of the test's own, which it may stop and start again (same port)."""
    yield from start_server()


API_KEY = "dashboard-test-key"


@pytest.fixture
def keyed_server() -> Iterator[Server]:
    """A perpwatch with ``API_KEY`` set: changes need the key."""
    yield from start_server(API_KEY=API_KEY)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running on this thread
    while it is open, which pytest-asyncio's own loops must not meet, so it is closed
    before any other module's tests run."""
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"{msg.text} ({msg.location.get('url')})")

    def on_request(self, url: str) -> None:
        self.requests.append(url)
        if leaves_loopback(url):
            self.outside.append(url)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Watched]]:
    """``open_page(url, width=1400)``: a new page in a fresh context, watched."""
    opened: list[tuple[Any, Watched, bool]] = []

    def open_(
        url: str, *, width: int = 1400, height: int = 900, expect_errors: bool = False
    ) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        w = Watched(page)
        page.on("console", w.on_console)
        page.on("pageerror", lambda e: w.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: w.on_request(r.url))
        page.on("websocket", lambda ws: w.on_request(ws.url))
        opened.append((context, w, expect_errors))
        page.goto(url)
        return w

    yield open_
    for context, w, expect_errors in opened:
        context.close()
        assert not w.outside, f"requests left loopback: {w.outside}"
        if not expect_errors:
            assert not w.errors, f"the browser console showed errors: {w.errors}"
