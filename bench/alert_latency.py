"""Alert latency: from a signal change's publish on the bus to the webhook's receipt.

Two ``perpwatch serve`` replicas (scheduler candidates whose schedule stays stopped: one
leads and evaluates, both send) share a private redis-server; a loopback webhook receiver
(the tests' one) takes every alert. The bench publishes ``--alerts`` ``signal_change``
events for distinct symbols on the bus, the way the publisher does, ``--gap-ms`` apart,
and a rule matches them all. An alert's latency is its receipt (the receiver's clock)
minus its event's publish time (the bus entry's ``ts``, same machine). Target (the
issue): p99 under 1 s.

    python bench/alert_latency.py [--alerts 200] [--gap-ms 20] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import redis

from bench.common import ROOT, free_port, machine, percentile
from bench.lifetime import OwnedProcess, OwnedRedis, bounded
from bench.provenance import code_state
from perpwatch.constants import SCHEDULER_CONTROL_KEY
from perpwatch.push.redis_bus import RedisBus
from perpwatch.redis_client import close_redis, open_redis
from tests.support.alert_events import signal_change
from tests.support.receivers import WebhookReceiver

HEADING = "Alert latency: signal change to webhook receipt"
KEY = "bench-key-0123456789abcdef"
TARGET_S = 1.0
REPLICAS = 2


def env(redis_url: str) -> dict[str, str]:
    return {
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "MARKET": "sim",
        "SYMBOLS": "BTCUSDT",
        "API_KEY": KEY,
        "HAMA_SCHEDULER_AUTO_START": "true",
        "FUNDING_CHECK_ENABLED": "false",
        "ALERT_ALLOW_PRIVATE_URLS": "true",
    }


async def publish(url: str, n: int, gap_s: float) -> dict[str, int]:
    """Publish ``n`` changes; each symbol's publish time (ms, the bus entry's)."""
    client = open_redis(url, socket_timeout_s=2.0)
    try:
        bus = RedisBus(client, max_events=100_000, retention_s=3600)
        out: dict[str, int] = {}
        for i in range(n):
            symbol = f"L{i}USDT"
            data = json.dumps(signal_change(symbol, "BUY", "HOLD"), separators=(",", ":"))
            event = await bus.publish("signal_change", data, symbol=symbol, timeframe="15m")
            out[symbol] = event.ts_ms
            await asyncio.sleep(gap_s)
        return out
    finally:
        await close_redis(client)


def run(n: int, gap_ms: float) -> dict[str, Any]:
    with OwnedRedis() as red, WebhookReceiver() as receiver:
        sync = redis.Redis.from_url(red.url)
        sync.set(SCHEDULER_CONTROL_KEY, json.dumps({"running": False, "generation": 1}))
        procs = []
        for _ in range(REPLICAS):
            port = free_port()
            proc = OwnedProcess(["serve", "--port", str(port)], env=env(red.url))
            procs.append((proc.start(), f"http://127.0.0.1:{port}"))
        try:
            for proc, url in procs:
                proc.wait_http(f"{url}/health", timeout_s=90)
            body = {
                "kind": "signal_change",
                "to": ["BUY"],
                "channel": {
                    "type": "webhook",
                    "url": f"{receiver.url}/hook",
                    "secret": "bench-secret-0123456789",
                },
            }
            r = httpx.post(
                f"{procs[0][1]}/api/alerts/rules",
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
            )
            r.raise_for_status()
            while sync.get("hama:scheduler:lease") is None:
                time.sleep(0.1)
            time.sleep(2.0)  # the leader's evaluator has read the rule
            sent = asyncio.run(publish(red.url, n, gap_ms / 1000))
            receiver.wait_for(n, timeout_s=60)
            time.sleep(1.0)
        finally:
            for proc, _ in procs:
                proc.stop()
        sync.close()
        latencies = []
        ids = [r.headers["X-Perpwatch-Event-Id"] for r in receiver.accepted()]
        for got in receiver.accepted():
            symbol = got.json()["symbol"]
            latencies.append(got.at - sent[symbol] / 1000)
    return {
        "alerts": n,
        "received": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "p50_s": round(percentile(latencies, 50), 4),
        "p99_s": round(percentile(latencies, 99), 4),
        "max_s": round(max(latencies), 4),
    }


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=200)
    p.add_argument("--gap-ms", type=float, default=20.0, help="between two publishes")
    p.add_argument("--write", action="store_true", help="replace the section in the docs")
    args = p.parse_args(argv)
    if not 100 <= args.alerts <= 10_000:
        p.error("--alerts: 100 to 10000")
    with bounded(240 + args.alerts * args.gap_ms / 1000):
        result = run(args.alerts, args.gap_ms)
    out = {
        "when": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "code": code_state(),
        "gap_ms": args.gap_ms,
        "result": result,
    }
    print(section(out))
    if args.write:
        from bench.optional_steps import replace_section

        replace_section(ROOT / "docs" / "benchmarks.md", HEADING, section(out))
    return out


def section(out: dict[str, Any]) -> str:
    r = out["result"]
    met = r["received"] == r["alerts"] and r["duplicates"] == 0 and r["p99_s"] < TARGET_S
    verdict = "met" if met else "NOT met"
    row = (
        f"| {r['alerts']} | {r['received']} | {r['duplicates']} | {r['p50_s']} s | "
        f"{r['p99_s']} s | {r['max_s']} s |"
    )
    return f"""## {HEADING}

`python bench/alert_latency.py --write`, measured {out["when"]} on {out["machine"]}, code
{out["code"]}. {REPLICAS} `perpwatch serve` replicas on one redis-server (one leads and
evaluates, both send), a loopback webhook receiver, one `signal_change` rule; {r["alerts"]}
changes of distinct symbols published on the bus {out["gap_ms"]:g} ms apart. Latency: the
receipt minus the event's publish time. Target: p99 under {TARGET_S:.0f} s. **{verdict}**.

| alerts | received | duplicates | p50 | p99 | max |
|---|---|---|---|---|---|
{row}
"""


if __name__ == "__main__":
    main(sys.argv[1:])
