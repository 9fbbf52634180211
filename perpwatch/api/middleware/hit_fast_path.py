"""Cache hits of ``POST /api/gainer-analysis/analyze-symbol`` answered before FastAPI runs.

A hit is the stored analysis with the served fields joined on (see
:meth:`~perpwatch.analysis.service.AnalysisService.cached_response`), so the framework's
routing, dependency injection, validation and response model are pure cost there, and so
is its own entry (its telemetry check, its middleware stack). This pure ASGI layer is the
app's ``front`` (:class:`~perpwatch.api.openapi.PerpwatchAPI`), outermost: it sees a
request first, answers exactly the requests that are plain hits and counts them in the
HTTP metrics itself (a hit from the near cache or from memory is answered without an
await before its reply):

* a JSON content type and a body of at most ``max_body_bytes`` (read here, in full);
* an object with ``symbol`` (a string that :func:`normalize_symbol` accepts) and at
  most ``force_refresh: false`` and a configured ``timeframe`` (a string) besides;
* a symbol whose analysis is cached;
* no ``Origin`` header when CORS is configured (the CORS middleware adds its headers).

Everything else -- a miss, a forced refresh, bad input of any kind, another path -- is
passed on untouched, the body replayed, and the normal route answers it (with its errors,
auth and rate limits). The bytes a hit gets are the ones the route would give.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perpwatch.api.deps import is_json_media_type
from perpwatch.api.envelope import envelope_bytes
from perpwatch.errors import InvalidInput
from perpwatch.metrics.http import HttpStats
from perpwatch.symbols import normalize_symbol

if TYPE_CHECKING:
    from perpwatch.runtime import Runtime

PATH = "/api/gainer-analysis/analyze-symbol"
_ALLOWED = frozenset({"symbol", "force_refresh", "timeframe"})


def plain_hit(body: bytes) -> tuple[str, str | None] | None:
    """The canonical symbol and the timeframe named (None: the primary) when ``body``
    asks for a plain (unforced) analysis."""
    try:
        request: Any = json.loads(body)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting: not ours
        return None
    if not isinstance(request, dict) or not request.keys() <= _ALLOWED:
        return None
    if request.get("force_refresh", False) is not False:
        return None
    symbol = request.get("symbol")
    timeframe = request.get("timeframe")
    if not isinstance(symbol, str) or not (timeframe is None or isinstance(timeframe, str)):
        return None
    try:
        return normalize_symbol(symbol), timeframe
    except InvalidInput:
        return None


class HitFastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        runtime: Callable[[], Runtime],
        max_body_bytes: int,
        stats: HttpStats,
        cors: bool = False,
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.max_body_bytes = max_body_bytes
        self.stats = stats  # a hit is counted here; what is passed on, by the app's metrics
        self.cors = cors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        content_type = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"origin" and self.cors:
                content_type = None
                break
        if content_type is None or not is_json_media_type(content_type):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # a disconnect: let the app see it
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes or not message.get("more_body", False):
                break
        complete = messages[-1]["type"] == "http.request" and not messages[-1].get("more_body")
        asked = plain_hit(body) if complete and len(body) <= self.max_body_bytes else None
        hit = None
        if asked is not None:
            symbol, timeframe = asked
            try:  # an unconfigured timeframe raises: the route answers its 400
                service = self.runtime().service_for(timeframe)
                hit = service.ready_response(symbol) or await service.read_response(
                    symbol, count_miss=False
                )
            except Exception:  # not started, or a surprise: the normal route answers it
                hit = None
        if hit is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        data, source = hit
        payload = envelope_bytes(data, f"success (cached from {source})")
        status = 0  # counted as the app's metrics count a request, however it ends
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-length", str(len(payload)).encode()),
                (b"content-type", b"application/json"),
            ]})  # fmt: skip
            status = 200
            await send({"type": "http.response.body", "body": payload})
        finally:
            self.stats.observe(PATH, "POST", status, time.perf_counter() - started)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
