"""Exchange-side reliability figures: perpwatch against the enforcing, fault-injecting emulator.

The emulator runs in its own process (Binance's limits enforced: 2400 weight per IP per
minute, 429 with Retry-After, 418 bans); perpwatch runs in this process, with the real
ccxt client and its default settings unless a scenario says otherwise. Scenarios:

1. ``clean``: a full refresh of ``--symbols`` symbols, first load included.
2. ``preused``: the same with ``--preused`` weight already used on the IP this minute by
   "another process" (perpwatch must wait for the minute to reset instead of getting 429).
3. ``faults``: a full refresh with ``--fault-rate`` of the requests faulted (5xx, timeouts,
   dropped connections, malformed bodies; seeded), then the cached candles of up to 100
   successful symbols compared with a clean fetch.
4. ``down``: the scheduler running every ``--interval`` seconds over ``--down-symbols``
   symbols; the exchange down (503s) for ``--down-s`` seconds, then back.

A JSON summary is printed at the end (``--json FILE`` writes it too).

    python scripts/exchange_faults.py [--symbols 500] [--fault-rate 0.2] [--down-s 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import emulator_process  # noqa: E402
from perpwatch.api.routers.health import health_report  # noqa: E402
from perpwatch.market.candle_store import CandleStore  # noqa: E402
from perpwatch.market.ccxt.market import CcxtMarket  # noqa: E402
from perpwatch.runtime import Runtime, open_runtime  # noqa: E402
from perpwatch.settings import load_settings  # noqa: E402

LIMIT = 2400
SCENARIOS = ("clean", "preused", "faults", "down")


def settings_for(url: str, **extra: object) -> Any:
    base: dict[str, object] = {
        "MARKET": "binanceusdm",
        "EXCHANGE_API_URL": url,
        "REDIS_ENABLED": False,
        "HAMA_SCHEDULER_AUTO_START": False,
        "FUNDING_CHECK_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }
    return load_settings(**{**base, **extra})


def ccxt_market(rt: Runtime) -> CcxtMarket:
    market = rt.market
    assert isinstance(market, CcxtMarket)
    return market


def minutes(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Weight the IP used per window (every process on it), as the emulator counted it."""
    return [
        {
            "minute": time.strftime("%H:%M:%S", time.gmtime(w["start"])),
            "used": w["used"],
            "limit": LIMIT,
            "share": round(w["used"] / LIMIT, 3),
        }
        for w in stats["rate_limits"]["windows"]
        if w["ip"] == "127.0.0.1"
    ]


async def refresh(emu: httpx.AsyncClient, url: str, symbols: int, preused: int) -> dict[str, Any]:
    await emu.post("/_emulator/reset")
    await emu.post("/_emulator/config", json={"faults": {"rate": 0.0}, "down": False})
    if preused:
        await emu.post("/_emulator/config", json={"use_weight": preused})
    async with open_runtime(settings_for(url, SYMBOLS_LIMIT=symbols), with_tasks=False) as rt:
        started = time.monotonic()
        watch = await rt.scheduler.resolve_symbols()
        run = await rt.scheduler.run_once(watch)
        wall = time.monotonic() - started
        market = ccxt_market(rt).stats()
    stats = (await emu.get("/_emulator/stats")).json()
    rl = stats["rate_limits"]
    return {
        "symbols": len(watch),
        "ok": run.ok,
        "failed": run.failed,
        "wall_s": round(wall, 2),
        "weight_sent_by_perpwatch": stats["weight_total"],
        "weight_preused": preused,
        "responses_429": rl["responses_429"],
        "responses_418": rl["responses_418"],
        "weight_per_minute": minutes(stats),
        "budget": market["budget"],
        "gate_pauses": market["gate"]["pauses"],
    }


async def faults(emu: httpx.AsyncClient, url: str, symbols: int, rate: float) -> dict[str, Any]:
    await emu.post("/_emulator/reset")
    # a timeout fault holds the request past the client's 10 s timeout (EXCHANGE_TIMEOUT)
    await emu.post("/_emulator/config", json={"faults": {"rate": rate, "seed": 1, "hang_s": 15}})
    async with open_runtime(settings_for(url, SYMBOLS_LIMIT=symbols), with_tasks=False) as rt:
        started = time.monotonic()
        watch = await rt.scheduler.resolve_symbols()
        run = await rt.scheduler.run_once(watch)
        wall = time.monotonic() - started
        gate = ccxt_market(rt).stats()["gate"]
        stats = (await emu.get("/_emulator/stats")).json()
        await emu.post("/_emulator/config", json={"faults": {"rate": 0.0}})
        cached = sorted(await rt.service.cached_symbols())
        clean_market = CcxtMarket("binanceusdm", api_url=url)
        clean = CandleStore(clean_market, timeframe=rt.candles.timeframe, history=499)
        mismatches, checked = [], cached[:100]
        try:
            for symbol in checked:
                ref = (await clean.snapshot(symbol)).closed
                got = rt.candles._candles[symbol].closed_before(int(time.time() * 1000))
                n = min(len(ref), len(got))
                same = (got.open_time[-n:] == ref.open_time[-n:]).all() and all(
                    (getattr(got, c)[-n:] == getattr(ref, c)[-n:]).all()
                    for c in ("open", "high", "low", "close", "volume")
                )
                if not same or n < 490:
                    mismatches.append(symbol)
        finally:
            await clean_market.close()
    return {
        "symbols": len(watch),
        "fault_rate": rate,
        "requests": sum(stats["requests"].values()),
        "faults_injected": stats["faults"]["injected"],
        "fault_variants": stats["faults"]["variants"],
        "ok": run.ok,
        "failed": run.failed,
        "failures": run.failures,
        "cached_equals_failures_missing": set(cached) == set(watch) - set(run.failures),
        "retries": gate["retries"],
        "failed_attempts": gate["failed_attempts"],
        "wall_s": round(wall, 2),
        "responses_429": stats["rate_limits"]["responses_429"],
        "verified_against_clean_fetch": len(checked),
        "verification_mismatches": mismatches,
    }


async def down(
    emu: httpx.AsyncClient, url: str, symbols: int, interval_s: float, down_s: float
) -> dict[str, Any]:
    await emu.post("/_emulator/reset")
    await emu.post("/_emulator/config", json={"faults": {"rate": 0.0}, "down": False})
    settings = settings_for(url, SYMBOLS_LIMIT=symbols, HAMA_SCHEDULER_INTERVAL=interval_s / 60)
    async with open_runtime(settings, with_tasks=False) as rt:
        sched = rt.scheduler
        await sched.start()
        while sched.last_run is None or sched.last_run.ok == 0:  # noqa: ASYNC110 -- polling
            await asyncio.sleep(0.05)
        runs_before = sched.runs
        await emu.post("/_emulator/config", json={"down": True})
        await asyncio.sleep(down_s)
        during = health_report(rt)
        failed_runs = sched.consecutive_failed_runs
        runs_down = sched.runs - runs_before
        await emu.post("/_emulator/config", json={"down": False})
        back = time.monotonic()
        while sched.consecutive_failed_runs or not (sched.last_run and sched.last_run.ok):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        recovery = time.monotonic() - back
        after = health_report(rt)
        last = sched.last_run
        gate = ccxt_market(rt).stats()["gate"]
    stats = (await emu.get("/_emulator/stats")).json()
    return {
        "symbols": symbols,
        "interval_s": interval_s,
        "down_s": down_s,
        "runs_while_down": runs_down,
        "consecutive_failed_runs": failed_runs,
        "requests_refused_while_down": stats["down_requests"],
        "not_sent_breaker_open": gate["not_sent"],
        "health_while_down": {"status": during["status"], "exchange": during["exchange"]},
        "recovery_s": round(recovery, 2),
        "run_after_recovery": {"ok": last.ok, "failed": last.failed},
        "health_after": {"status": after["status"], "exchange_ok": after["exchange"]["ok"]},
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    out: dict[str, Any] = {}
    wanted = set(args.only.split(",")) if args.only else set(SCENARIOS)
    with emulator_process(symbols=max(args.symbols, 160), extra=("--fault-seed", "1")) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as emu:
            runs = {
                "clean": lambda: refresh(emu, url, args.symbols, 0),
                "preused": lambda: refresh(emu, url, args.symbols, args.preused),
                "faults": lambda: faults(emu, url, args.symbols, args.fault_rate),
                "down": lambda: down(emu, url, args.down_symbols, args.interval, args.down_s),
            }
            for name in SCENARIOS:
                if name in wanted:
                    out[name] = await runs[name]()
                    print(f"{name}:", json.dumps(out[name]), flush=True)
    out["total_s"] = round(time.monotonic() - started, 1)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--preused", type=int, default=1500, help="weight used by others this minute")
    p.add_argument("--fault-rate", type=float, default=0.2)
    p.add_argument("--down-symbols", type=int, default=50)
    p.add_argument("--interval", type=float, default=3.0, help="scheduler interval, seconds")
    p.add_argument("--down-s", type=float, default=20.0)
    p.add_argument("--only", default="", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    p.add_argument("--json", type=Path, default=None, help="also write the summary here")
    p.add_argument("--verbose", action="store_true", help="perpwatch's warnings on stderr")
    args = p.parse_args(argv)
    level = logging.WARNING if args.verbose else logging.CRITICAL
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    summary = asyncio.run(main_async(args))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return summary


if __name__ == "__main__":
    main()
