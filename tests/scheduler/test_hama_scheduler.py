"""The refresh schedule against the simulated market and a real Redis."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from perpwatch.market.sim.market import SimMarket
from perpwatch.market.types import Candles
from perpwatch.runtime import Runtime, open_runtime
from perpwatch.scheduler.hama_scheduler import RunInProgress
from perpwatch.settings import load_settings


class SlowSimMarket(SimMarket):
    """The simulated market with exchange-like latency, counting concurrent runs."""

    delay_s = 0.0

    async def fetch_candles(
        self, symbol: str, *, timeframe: str, since_ms: int | None, limit: int
    ) -> Candles:
        await asyncio.sleep(self.delay_s)
        return await super().fetch_candles(
            symbol, timeframe=timeframe, since_ms=since_ms, limit=limit
        )


def _settings(redis_url: str, **extra: object) -> object:
    base: dict[str, object] = {
        "MARKET": "sim",
        "REDIS_URL": redis_url,
        "HAMA_SCHEDULER_AUTO_START": False,
        "SYMBOLS_LIMIT": 10,
        "LOG_LEVEL": "WARNING",
    }
    base.update(extra)
    return load_settings(**base)


async def test_runs_never_overlap_and_skips_are_counted(redis_url: str) -> None:
    settings = _settings(redis_url, HAMA_SCHEDULER_INTERVAL=0.5 / 60, REFRESH_CONCURRENCY=2)
    async with open_runtime(settings) as rt:
        market = SlowSimMarket(seed=settings.sim_seed, n_symbols=settings.sim_symbols)
        market.delay_s = 0.3  # 10 symbols / 2 at a time * 0.3 s = 1.5 s a run, interval 0.5 s
        rt.scheduler._market = market
        rt.candles._market = market
        active = 0
        max_active = 0
        original = rt.scheduler.run_once

        async def counting(*args: object, **kwargs: object) -> object:
            nonlocal active, max_active
            active += 1
            max_active = max(max_active, active)
            try:
                return await original(*args, **kwargs)  # type: ignore[arg-type]
            finally:
                active -= 1

        rt.scheduler.run_once = counting  # type: ignore[method-assign]
        await rt.scheduler.start()
        await asyncio.sleep(4.0)
        await rt.scheduler.stop()
        assert max_active == 1
        assert rt.scheduler.runs >= 2
        assert rt.scheduler.runs_skipped >= 2
        first = asyncio.create_task(original(["BTCUSDT", "ETHUSDT"]))
        await asyncio.sleep(0.05)
        with pytest.raises(RunInProgress):
            await original(["BTCUSDT"])
        assert (await first).ok == 2


async def test_failing_symbol_does_not_stop_the_others(redis_url: str) -> None:
    settings = _settings(redis_url)
    async with open_runtime(settings) as rt:
        summary = await rt.scheduler.run_once(["BTCUSDT", "NOSUCHUSDT", "ETHUSDT"])
        assert (summary.ok, summary.failed) == (2, 1)
        assert "NOSUCHUSDT" in summary.failures
        assert await rt.service.cached_symbols() == ["BTCUSDT", "ETHUSDT"]


async def test_hit_rate_above_99_percent_with_a_compressed_clock(redis_url: str) -> None:
    """TTL 3 s and a 3 s interval stand in for 300 s / 5 min: the schedule must rewrite
    every entry before it expires, so readers essentially never miss, even while runs go."""
    settings = _settings(
        redis_url, HAMA_CACHE_TTL=3, HAMA_SCHEDULER_INTERVAL=3 / 60, SYMBOLS_LIMIT=30
    )
    async with open_runtime(settings) as rt:
        rt: Runtime
        await rt.scheduler.start()
        deadline = time.monotonic() + 10
        while rt.scheduler.last_run is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        symbols = list(rt.scheduler.symbols)
        rt.service.hits = rt.service.misses = 0
        rng = random.Random(7)
        runs_before = rt.scheduler.runs
        end = time.monotonic() + 12.0  # four TTLs, several refresh runs
        while time.monotonic() < end:
            await rt.service.get(rng.choice(symbols))
            await asyncio.sleep(0.005)
        assert rt.scheduler.runs - runs_before >= 3
        total = rt.service.hits + rt.service.misses
        assert total > 500
        assert rt.service.hits / total > 0.99, (rt.service.hits, rt.service.misses)
