"""A full funding refresh of three exchanges through the real ccxt clients and the emulator.

The emulator runs in its own process with added latency on every response (100 ms by
default) and serves Binance USD-M, Bybit v5 and OKX v5 side by side. Measured: a cold
refresh (markets loaded first) and warm ones (markets already loaded), with the number of
contracts per exchange and the requests each refresh made.

    python bench/funding_bench.py [--symbols 360] [--latency-ms 100] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx

from bench.common import emulator_process, percentile
from perpwatch.runtime import open_runtime
from perpwatch.settings import load_settings

EXCHANGES = "binanceusdm,bybit,okx"


async def measure(url: str, runs: int) -> dict[str, Any]:
    settings = load_settings(
        MARKET="binanceusdm",
        FUNDING_EXCHANGES=EXCHANGES,
        EXCHANGE_API_URL=url,
        REDIS_ENABLED=False,
        HAMA_SCHEDULER_AUTO_START=False,
        LOG_LEVEL="WARNING",
    )
    async with (
        open_runtime(settings, start_scheduler=False, with_tasks=False) as rt,
        httpx.AsyncClient(base_url=url) as emu,
    ):
        await emu.post("/_emulator/reset")
        t0 = time.perf_counter()
        cold = await rt.funding.refresh()
        cold_s = time.perf_counter() - t0
        cold_requests = (await emu.get("/_emulator/stats")).json()["requests"]
        warm: list[float] = []
        requests: dict[str, int] = {}
        report: dict[str, Any] = cold
        for _ in range(runs):
            await emu.post("/_emulator/reset")
            t0 = time.perf_counter()
            report = await rt.funding.refresh()
            warm.append(time.perf_counter() - t0)
            requests = (await emu.get("/_emulator/stats")).json()["requests"]
    return {
        "contracts": {ex: e["count"] for ex, e in report["exchanges"].items()},
        "status": report["status"],
        "cold_s": round(cold_s, 3),
        "cold_requests": sum(cold_requests.values()),
        "warm_runs": runs,
        "warm_p50_s": round(percentile(warm, 50), 3),
        "warm_max_s": round(max(warm), 3),
        "warm_requests": requests,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--symbols", type=int, default=360)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    with emulator_process(latency_ms=args.latency_ms, symbols=args.symbols) as url:
        result = asyncio.run(measure(url, args.runs))
    result["latency_ms"] = args.latency_ms
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
