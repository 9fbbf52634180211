"""The near cache of an API-only process: Redis hits kept briefly, ages always exact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from perpwatch.analysis.service import AnalysisService
from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from perpwatch.indicators.hama import HamaParams
from perpwatch.market.candle_store import CandleStore
from perpwatch.market.sim.market import SimMarket


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[FailoverCache]:
    c = FailoverCache(redis=RedisCache(redis_url), memory=MemoryCache(max_entries=100))
    await c.start()
    try:
        yield c
    finally:
        await c.close()


def doc(ts_ms: int, tag: str) -> str:
    return json.dumps(
        {"symbol": "BTCUSDT", "tag": tag, "timestamp_ms": ts_ms}, separators=(",", ":")
    )


async def test_hits_are_kept_for_the_near_cache_time_with_exact_ages(cache: FailoverCache) -> None:
    wall, mono = Clock(), Clock()
    market = SimMarket(seed=1, n_symbols=150)
    service = AnalysisService(
        exchange="sim", candles=CandleStore(market, timeframe="15m", history=499),
        cache=cache, params=HamaParams(), ttl_s=60, clock=wall, monotonic=mono,
    )  # fmt: skip
    service.near_cache_s = 1.0
    await cache.set("hama:analysis:BTCUSDT", doc(999_000, "old"), ttl_s=60)
    first = await service.cached_response("BTCUSDT")
    assert first is not None and '"tag":"old"' in first[0] and first[1] == "redis"
    await cache.set("hama:analysis:BTCUSDT", doc(1_000_000, "new"), ttl_s=60)
    wall.now += 0.5
    mono.now += 0.5
    kept = await service.cached_response("BTCUSDT")
    assert kept is not None and '"tag":"old"' in kept[0]
    assert json.loads(kept[0])["age_seconds"] == 1.5  # the age is of the document, now
    mono.now += 0.6
    fresh = await service.cached_response("BTCUSDT")
    assert fresh is not None and '"tag":"new"' in fresh[0]
    assert service.hits == 3 and service.misses == 0
    assert await service.cached_response("ETHUSDT") is None and service.misses == 1
    await market.close()
