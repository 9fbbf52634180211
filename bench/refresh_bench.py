"""Full HAMA refresh of N symbols through the real ccxt client against the emulator.

The emulator runs in its own process with added latency on every response (100 ms by
default), like a distant exchange. Measured: the first refresh (listing + full history
load of every symbol), then a second one (incremental candles only), and the request
weight the emulator counted for each.

    python bench/refresh_bench.py [--symbols 125] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from bench.common import RedisServer, emulator_process
from perpwatch.runtime import open_runtime
from perpwatch.settings import load_settings


async def measure(url: str, redis_url: str, symbols: int, concurrency: int) -> dict[str, Any]:
    settings = load_settings(
        MARKET="binanceusdm",
        EXCHANGE_API_URL=url,
        REDIS_URL=redis_url,
        SYMBOLS_LIMIT=symbols,
        REFRESH_CONCURRENCY=concurrency,
        HAMA_SCHEDULER_AUTO_START=False,
        LOG_LEVEL="WARNING",
    )
    out: dict[str, Any] = {}
    async with (
        open_runtime(settings, start_scheduler=False) as rt,
        httpx.AsyncClient(base_url=url) as emu,
    ):
        await emu.post("/_emulator/reset")
        t0 = time.perf_counter()
        watch = await rt.scheduler.resolve_symbols()
        t_list = time.perf_counter() - t0
        first = await rt.scheduler.run_once(watch)
        t_first = time.perf_counter() - t0
        w1 = (await emu.get("/_emulator/stats")).json()
        await emu.post("/_emulator/reset")
        t1 = time.perf_counter()
        second = await rt.scheduler.run_once(watch)
        t_second = time.perf_counter() - t1
        w2 = (await emu.get("/_emulator/stats")).json()
        out = {
            "symbols": len(watch),
            "concurrency": concurrency,
            "listing_s": round(t_list, 3),
            "first_refresh_total_s": round(t_first, 3),
            "first_refresh_ok": first.ok,
            "first_refresh_failed": first.failed,
            "first_refresh_weight": w1["weight_total"],
            "second_refresh_s": round(t_second, 3),
            "second_refresh_ok": second.ok,
            "second_refresh_failed": second.failed,
            "second_refresh_weight": w2["weight_total"],
            "second_refresh_klines_limits": sorted(set(w2["klines_limits"])),
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--symbols", type=int, default=125)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args(argv)
    emulator = emulator_process(latency_ms=args.latency_ms, symbols=max(160, args.symbols + 10))
    with RedisServer() as redis, emulator as url:
        result = asyncio.run(measure(url, redis.url, args.symbols, args.concurrency))
    result["latency_ms"] = args.latency_ms
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
