"""What stands between a client and the emulated venues: latency, outages, Binance's weight
limits and injected faults, all changeable at runtime (``POST /_emulator/config``).

Order per request to a venue path: added latency; ``down`` (every venue: a 503 page from
the CDN, or the connection closed without an answer); then, on Binance paths, the per-IP
weight (429 / 418 with ``Retry-After``, ``X-MBX-USED-WEIGHT-1M`` on every answer, faulted
ones included, because the request reached the exchange); then the faults. Other paths
(``/_emulator/...``) pass straight through.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.datastructures import QueryParams

from perpwatch.emulator.faults import (
    HTML_503,
    ASGIApp,
    FaultConfig,
    FaultPlan,
    Message,
    Receive,
    Scope,
    Send,
    drop_connection,
    inject,
    respond,
)
from perpwatch.emulator.limits import IpLimiter, LimitConfig
from perpwatch.emulator.weights import request_weight

VENUE_PREFIXES = ("/fapi/", "/v5/", "/api/v5/")
DOWN_MODES = ("503", "drop")
_CONFIG_KEYS = {"down", "down_mode", "latency_ms", "faults", "limits", "use_weight", "ip"}


@dataclass
class EmulatorState:
    """Runtime settings and counters of the emulator's front."""

    limiter: IpLimiter
    plan: FaultPlan
    latency_s: float = 0.0
    down: bool = False
    down_mode: str = "503"
    counters: dict[str, int] = field(default_factory=lambda: {"down_requests": 0})

    def configure(self, body: dict[str, Any], now_s: float) -> None:
        """Apply a ``POST /_emulator/config`` body; all-or-nothing (ValueError: nothing)."""
        unknown = set(body) - _CONFIG_KEYS
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        down = body.get("down", self.down)
        if not isinstance(down, bool):
            raise ValueError("down must be true or false")
        mode = str(body.get("down_mode", self.down_mode))
        if mode not in DOWN_MODES:
            raise ValueError(f"down_mode must be one of {', '.join(DOWN_MODES)}")
        latency_s = float(body.get("latency_ms", self.latency_s * 1000)) / 1000
        if not 0 <= latency_s <= 60:
            raise ValueError("latency_ms must be in [0, 60000]")
        faults = self.plan.config
        if "faults" in body:
            faults = faults.updated(_object(body["faults"], "faults"))
        limits = self.limiter.config
        if "limits" in body:
            changes = _object(body["limits"], "limits")
            unknown = set(changes) - set(limits.as_json())
            if unknown:
                raise ValueError(f"unknown limit settings: {', '.join(sorted(unknown))}")
            limits = replace(limits, **changes)
        use_weight = int(body.get("use_weight", 0))
        if use_weight < 0:
            raise ValueError("use_weight must be >= 0")
        self.down, self.down_mode, self.latency_s = down, mode, latency_s
        if faults != self.plan.config:
            self.plan.config = faults
        if limits != self.limiter.config:
            self.limiter.configure(limits)
        if use_weight:
            self.limiter.add(str(body.get("ip", "127.0.0.1")), use_weight, now_s)

    def reset(self) -> None:
        """Counters, weights and bans back to zero; settings stay."""
        self.limiter.reset()
        self.plan = FaultPlan(self.plan.config)
        self.counters = {"down_requests": 0}

    def as_json(self) -> dict[str, Any]:
        return {
            "down": self.down,
            "down_mode": self.down_mode,
            "latency_ms": round(self.latency_s * 1000, 3),
            "faults": self.plan.config.as_json(),
            "limits": self.limiter.config.as_json(),
        }

    def stats(self, now_s: float) -> dict[str, Any]:
        return {
            "faults": self.plan.as_json(),
            "rate_limits": self.limiter.as_json(now_s),
            **self.counters,
        }


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


class EmulatorApp:
    """The ASGI app served: this front, then the venues' Starlette app (``inner``)."""

    def __init__(
        self, inner: ASGIApp, state: EmulatorState, clock: Callable[[], float] = time.time
    ) -> None:
        self.inner = inner
        self.state = state
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or not path.startswith(VENUE_PREFIXES):
            await self.inner(scope, receive, send)
            return
        st = self.state
        if st.latency_s:
            await asyncio.sleep(st.latency_s)
        if st.down:
            st.counters["down_requests"] += 1
            if st.down_mode == "drop":
                await drop_connection(send)
            else:
                await respond(send, 503, HTML_503, b"text/html", [])
            return
        extra: list[tuple[bytes, bytes]] = []
        if path.startswith("/fapi/"):
            query = scope.get("query_string", b"")
            weight = request_weight(path, QueryParams(query))
            client = scope.get("client") or ("127.0.0.1", 0)
            verdict = st.limiter.check(str(client[0]), weight, self._clock())
            extra = [(st.limiter.config.header.encode(), str(verdict.used).encode())]
            if verdict.status != 200:
                body = json.dumps(verdict.body(st.limiter.config)).encode()
                retry = [(b"retry-after", str(verdict.retry_after_s).encode())]
                await respond(send, verdict.status, body, b"application/json", extra + retry)
                return
        decision = st.plan.decide(
            str(scope.get("method", "GET")), path, scope.get("query_string", b"")
        )
        if decision is not None:
            variant, rng = decision
            await inject(variant, rng, st.plan.config, self.inner, scope, receive, send, extra)
            return
        if not extra:
            await self.inner(scope, receive, send)
            return

        async def send_with_weight(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.inner(scope, receive, send_with_weight)


def new_state(
    limits: LimitConfig | None, faults: FaultConfig | None, latency_ms: float
) -> EmulatorState:
    return EmulatorState(
        IpLimiter(limits), FaultPlan(faults or FaultConfig()), max(0.0, latency_ms) / 1000.0
    )
