"""HTTP request metrics of the API process, kept in plain Python and read at scrape time.

:class:`HttpMetrics` wraps the app behind the hit fast path, so it sees every HTTP request
but the plain cache hits, which the fast path answers and counts itself
(:meth:`HttpStats.observe`, with the same labels). Per request it
costs two clock reads, a wrapped ``send`` and two dict updates (no lock, no file): the
hit path's throughput is a benchmarked target. The label values are bounded: the route
*template* the router matched (``/api/gainer-analysis/series/{symbol}``), ``other`` for a
path no route knows, a known method or ``other``, and a status class (``2xx``).

Only this process serves HTTP, so these need no multiprocess files; everything runs on
the event loop, and :meth:`HttpStats.snapshot` copies them there for the exposition
thread.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perpwatch.metrics.registry import HTTP_BUCKETS_S

OTHER = "other"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_STATUS_CLASSES = ("5xx", "1xx", "2xx", "3xx", "4xx", "5xx")  # 0: no response was started


def status_class(status: int) -> str:
    """``2xx`` for 200..299; a request that ended without a response counts as ``5xx``
    (the server answers it 500)."""
    index = status // 100
    return _STATUS_CLASSES[index] if 0 <= index < len(_STATUS_CLASSES) else "5xx"


def route_label(scope: Scope, *, fixed: frozenset[str]) -> str:
    """The route template the router matched (it leaves the route in the scope), a
    ``fixed`` path answered before routing, else ``other``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw = scope.get("path")
    return raw if raw in fixed else OTHER


@dataclass(slots=True)
class Histogram:
    """Per-bucket (not cumulative) counts: bucket ``i`` holds values ``<= bounds[i]``
    and above the bound before; the last one is ``+Inf``."""

    counts: list[int]
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass(slots=True)
class HttpStats:
    bounds: tuple[float, ...] = HTTP_BUCKETS_S
    requests: dict[tuple[str, str, str], int] = field(default_factory=dict)
    durations: dict[str, Histogram] = field(default_factory=dict)

    def observe(self, route: str, method: str, status: int, duration_s: float) -> None:
        key = (route, method if method in METHODS else OTHER, status_class(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.durations.get(route)
        if hist is None:
            hist = self.durations[route] = Histogram([0] * (len(self.bounds) + 1))
        hist.counts[bisect.bisect_left(self.bounds, duration_s)] += 1
        hist.total += duration_s

    def snapshot(self) -> HttpStats:
        """A copy, for another thread (this one goes on counting)."""
        return HttpStats(
            self.bounds,
            dict(self.requests),
            {r: Histogram(list(h.counts), h.total) for r, h in self.durations.items()},
        )


class HttpMetrics:
    """Count and time every HTTP request of ``app`` into ``stats``."""

    def __init__(self, app: ASGIApp, *, stats: HttpStats, fixed: frozenset[str]) -> None:
        self.app = app
        self.stats = stats
        self.fixed = fixed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.stats.observe(route_label(scope, fixed=self.fixed), scope["method"], status,
                               time.perf_counter() - started)  # fmt: skip
