"""A slow Redis (latency added by a real TCP proxy): requests stay within a bounded time."""

from __future__ import annotations

import time

from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from tests.support.redis_server import RedisServer
from tests.support.tcp_proxy import DelayProxy

TIMEOUT_S = 0.25


async def test_slightly_slow_redis_is_still_used(redis_server: RedisServer) -> None:
    with DelayProxy(redis_server.port, delay_s=0.02).running() as proxy:
        cache = FailoverCache(
            redis=RedisCache(f"redis://127.0.0.1:{proxy.port}/0", socket_timeout_s=TIMEOUT_S),
            memory=MemoryCache(),
            probe_interval_s=0.2,
        )
        await cache.start()
        try:
            await cache.set("slow:a", "1", ttl_s=5)
            t0 = time.monotonic()
            hit = await cache.get("slow:a")
            assert hit is not None and hit.source == "redis"
            assert time.monotonic() - t0 < TIMEOUT_S
            assert cache.redis_errors == 0
        finally:
            await cache.close()


async def test_very_slow_redis_is_bounded_by_the_timeout(redis_server: RedisServer) -> None:
    with DelayProxy(redis_server.port, delay_s=1.5).running() as proxy:
        cache = FailoverCache(
            redis=RedisCache(f"redis://127.0.0.1:{proxy.port}/0", socket_timeout_s=TIMEOUT_S),
            memory=MemoryCache(),
            probe_interval_s=0.2,
        )
        await cache.start()
        try:
            worst = 0.0
            for i in range(20):
                t0 = time.monotonic()
                await cache.set(f"slow:{i}", str(i), ttl_s=5)
                hit = await cache.get(f"slow:{i}")
                worst = max(worst, time.monotonic() - t0)
                assert hit is not None and hit.value == str(i)
            # at most a couple of timeouts before it switches to memory; never the 1.5 s
            assert worst < 4 * TIMEOUT_S + 0.2
            assert cache.source == "memory"
        finally:
            await cache.close()
