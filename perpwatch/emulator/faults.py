"""Fault injection for the emulator: 5xx answers, timeouts, dropped connections, bad bodies.

Which request gets which fault is decided by a seeded RNG keyed by the request (method,
path, query) and how many times that same request was seen before, so a run is
reproducible whatever order concurrent requests arrive in, and a retried request gets a
fresh draw. Kinds and their variants:

- ``error_5xx``: 500 (Binance ``-1000``), 502 (the CDN's HTML page), 503 (Binance ``-1001``,
  "Internal error; unable to process your request").
- ``timeout``: no answer until the client gives up (or ``hang_s``, then a 504 page).
- ``drop``: the connection is closed without an answer, or after the headers and half
  the body.
- ``malformed``: HTTP 200 with a truncated JSON body, an HTML page, or (klines) one row
  with a non-numeric price or one row missing from the middle.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, replace
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KINDS = ("error_5xx", "timeout", "drop", "malformed")
VARIANTS: dict[str, tuple[str, ...]] = {
    "error_5xx": ("500", "502", "503"),
    "timeout": ("hang",),
    "drop": ("before_response", "mid_body"),
    "malformed": ("truncated_json", "html_200", "bad_row"),
}
_MAX_SEEN = 200_000

BINANCE_500 = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
BINANCE_503 = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}
_PAGE = (
    "<html><head><title>{t}</title></head>"
    "<body><center><h1>{t}</h1></center><hr><center>{s}</center></body></html>"
)
HTML_502 = _PAGE.format(t="502 Bad Gateway", s="CloudFront").encode()
HTML_503 = _PAGE.format(t="503 Service Temporarily Unavailable", s="CloudFront").encode()
HTML_504 = _PAGE.format(t="504 Gateway Time-out", s="CloudFront").encode()
HTML_500 = _PAGE.format(t="500 Internal Server Error", s="nginx").encode()
HTML_MAINTENANCE = _PAGE.format(t="System maintenance", s="We'll be back soon.").encode()


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Per-kind fault rates (each in [0, 1], summing to at most 1)."""

    error_5xx: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    seed: int = 0
    hang_s: float = 30.0  # a timeout holds the request this long at most
    paths: tuple[str, ...] = ()  # path prefixes faults apply to; () = every venue path

    def __post_init__(self) -> None:
        rates = [getattr(self, k) for k in KINDS]
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must be in [0, 1] and sum to at most 1")
        if self.hang_s <= 0:
            raise ValueError("hang_s must be > 0")

    @classmethod
    def mixed(cls, rate: float, **kwargs: Any) -> FaultConfig:
        """``rate`` of all requests faulted, split equally over the four kinds."""
        share = rate / len(KINDS)
        return cls(error_5xx=share, timeout=share, drop=share, malformed=share, **kwargs)

    @property
    def total(self) -> float:
        return float(sum(getattr(self, k) for k in KINDS))

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """A copy with ``changes`` (JSON: ``rate`` first splits evenly, then per-kind keys)."""
        changes = dict(changes)
        base = self
        if "rate" in changes:
            base = FaultConfig.mixed(
                float(changes.pop("rate")), seed=base.seed, hang_s=base.hang_s, paths=base.paths
            )
        unknown = set(changes) - {*KINDS, "seed", "hang_s", "paths"}
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        if "paths" in changes:
            changes["paths"] = tuple(str(p) for p in changes["paths"])
        return replace(base, **changes)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["paths"] = list(self.paths)
        return out


class FaultPlan:
    """Decides which requests get a fault; counts what it injected."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self.injected: Counter[str] = Counter()
        self.variants: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()

    def decide(self, method: str, path: str, query: bytes) -> tuple[str, random.Random] | None:
        """``(variant, rng)`` for a faulted request, else None."""
        cfg = self.config
        if cfg.total <= 0 or (cfg.paths and not path.startswith(cfg.paths)):
            return None
        key = f"{method} {path}?{query.decode('latin-1')}"
        if len(self._seen) > _MAX_SEEN:
            self._seen.clear()
        n = self._seen[key]
        self._seen[key] += 1
        rng = random.Random(f"{cfg.seed}|{key}|{n}")  # noqa: S311 -- test traffic, not crypto
        x, acc = rng.random(), 0.0
        for kind in KINDS:
            acc += getattr(cfg, kind)
            if x < acc:
                variant = rng.choice(VARIANTS[kind])
                self.injected[kind] += 1
                self.variants[f"{kind}:{variant}"] += 1
                return f"{kind}:{variant}", rng
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "config": self.config.as_json(),
            "injected": dict(self.injected),
            "variants": dict(self.variants),
            "total": sum(self.injected.values()),
        }


# --- answering ----------------------------------------------------------------------


async def respond(
    send: Send, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


async def drop_connection(send: Send) -> None:
    """Close the client's connection without (the rest of) an answer. Under uvicorn this
    closes the socket; elsewhere (an in-process transport) it raises ConnectionResetError."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionResetError("emulator dropped the connection (fault injection)")
    transport.close()
    await asyncio.sleep(0)  # let the server see the connection go before the app returns
    await asyncio.sleep(0)


async def wait_for_disconnect(receive: Receive, hang_s: float) -> bool:
    """True when the client went away within ``hang_s``; False when the time ran out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hang_s
    while (left := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return False
        if message["type"] == "http.disconnect":
            return True
    return False


async def capture(
    app: ASGIApp, scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run ``app`` and return its answer instead of sending it."""
    start: Message = {}
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    return int(start.get("status", 500)), headers, b"".join(chunks)


def corrupt_rows(body: bytes, rng: random.Random) -> bytes | None:
    """Klines with one row made non-numeric or one row removed, or None if not klines."""
    try:
        rows = json.loads(body)
    except ValueError:
        return None
    if not isinstance(rows, list) or len(rows) < 3 or not isinstance(rows[0], list):
        return None
    i = rng.randrange(1, len(rows) - 1)
    if rng.random() < 0.5:
        rows[i][4] = "n/a"  # close price
    else:
        del rows[i]
    return json.dumps(rows, separators=(",", ":")).encode()


async def inject(
    variant: str,
    rng: random.Random,
    config: FaultConfig,
    app: ASGIApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    extra: list[tuple[bytes, bytes]],
) -> None:
    """Answer one request with the fault ``variant`` (``kind:variant``)."""
    binance = str(scope["path"]).startswith("/fapi/")
    json_type, html_type = b"application/json", b"text/html"
    if variant == "error_5xx:500":
        if binance:
            return await respond(send, 500, json.dumps(BINANCE_500).encode(), json_type, extra)
        return await respond(send, 500, HTML_500, html_type, [])
    if variant == "error_5xx:502":
        return await respond(send, 502, HTML_502, html_type, [])
    if variant == "error_5xx:503":
        if binance:
            return await respond(send, 503, json.dumps(BINANCE_503).encode(), json_type, extra)
        return await respond(send, 503, HTML_503, html_type, [])
    if variant == "timeout:hang":
        if not await wait_for_disconnect(receive, config.hang_s):
            await respond(send, 504, HTML_504, html_type, [])
        return None
    if variant == "drop:before_response":
        return await drop_connection(send)
    if variant == "malformed:html_200":
        return await respond(send, 200, HTML_MAINTENANCE, html_type, [])
    status, headers, body = await capture(app, scope, receive)
    if variant == "drop:mid_body":
        headers += [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers + extra})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        return await drop_connection(send)
    bad = corrupt_rows(body, rng) if variant == "malformed:bad_row" and status == 200 else None
    if bad is None:  # truncated JSON (also bad_row where the answer is not klines)
        bad = body[: max(1, len(body) // 2)]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(bad)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": bad})
    return None
