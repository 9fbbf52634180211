"""Constructed bus events for the alert tests: published to a real Redis the way
:mod:`perpwatch.push.publisher` publishes them (same channels, types and JSON)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from perpwatch.push.events import EventType
from perpwatch.push.redis_bus import RedisBus
from perpwatch.redis_client import close_redis, open_redis


def signal_change(symbol: str, to: str, frm: str, *, timeframe: str = "15m",
                  confidence: float = 0.8) -> dict[str, Any]:  # fmt: skip
    return {"symbol": symbol, "timeframe": timeframe, "from": frm, "to": to, "cross_from": 0,
            "cross_to": 1 if to == "BUY" else -1, "changed": ["recommendation"],
            "confidence": confidence, "candle_close_time": "2026-12-01T10:15:00Z",
            "computed_at": "2026-12-01T10:15:02Z"}  # fmt: skip


def funding_row(symbol: str, exchange: str, rate: float) -> dict[str, Any]:
    return {"symbol": symbol, "exchange": exchange, "funding_rate": rate,
            "funding_interval": "8h", "funding_interval_hours": 8,
            "next_funding_time": "2026-12-01T16:00:00Z", "next_funding_time_ms": 1796140800000,
            "mark_price": 100.0, "index_price": 100.0, "apr": rate * 3 * 365 * 100,
            "last_updated": "2026-12-01T10:00:00Z", "last_updated_ms": 1796119200000,
            "data_source": "real_time"}  # fmt: skip


def funding_table(exchange: str, rates: dict[str, float]) -> dict[str, Any]:
    return {"exchange": exchange, "fetched_at_ms": int(time.time() * 1000),
            "rows": {s: funding_row(s, exchange, r) for s, r in rates.items()}}  # fmt: skip


def arbitrage_view(symbol: str, spread_apr: float, gap_pct: float) -> dict[str, Any]:
    leg = {"funding_rate": 0.0001, "funding_interval": "8h", "apr": 10.0, "mark_price": 100.0,
           "next_funding_time": "2026-12-01T16:00:00Z"}  # fmt: skip
    row = {"symbol": symbol, "exchanges": 2, "long": {**leg, "exchange": "binanceusdm"},
           "short": {**leg, "exchange": "bybit"}, "funding_spread": 0.0002,
           "spread_apr": spread_apr, "price_gap_pct": gap_pct}  # fmt: skip
    now = int(time.time() * 1000)
    return {"exchanges": ["binanceusdm", "bybit"], "count": 1, "opportunities": [row],
            "timestamp": "2026-12-01T10:00:00Z", "timestamp_ms": now}  # fmt: skip


Published = tuple[EventType, dict[str, Any], str | None, str | None]


async def _publish(url: str, cluster: bool, events: list[Published]) -> list[int]:
    client = open_redis(url, cluster=cluster, socket_timeout_s=2.0)
    try:
        bus = RedisBus(client, max_events=100_000, retention_s=3600)
        out = []
        for type_, data, symbol, timeframe in events:
            text = json.dumps(data, separators=(",", ":"))
            event = await bus.publish(type_, text, symbol=symbol, timeframe=timeframe)
            out.append(event.ts_ms)
        return out
    finally:
        await close_redis(client)


def publish(url: str, events: list[Published], *, cluster: bool = False) -> list[int]:
    """Publish ``events`` in order; each one's publish time (ms)."""
    return asyncio.run(_publish(url, cluster, events))


def change_event(symbol: str, to: str, frm: str, **kw: Any) -> Published:
    data = signal_change(symbol, to, frm, **kw)
    return ("signal_change", data, symbol, data["timeframe"])
