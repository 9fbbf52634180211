"""FailoverCache against real redis-server processes that die and come back."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from perpwatch.cache.base import CacheHit
from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

TIMEOUT_S = 0.2
PROBE_S = 0.1
KEY = "hama:analysis:BTCUSDT"
LOGGER = "perpwatch.cache.failover"


def make_cache(url: str | None) -> FailoverCache:
    return FailoverCache(
        redis=RedisCache(url, socket_timeout_s=TIMEOUT_S) if url else None,
        memory=MemoryCache(),
        probe_interval_s=PROBE_S,
    )


@pytest.fixture
async def cache(fresh_redis_server: RedisServer) -> AsyncIterator[FailoverCache]:
    c = make_cache(fresh_redis_server.url)
    await c.start()
    yield c
    await c.close()


@pytest.fixture
def sync_client(fresh_redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(fresh_redis_server.url, decode_responses=True)
    yield client
    client.close()


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_healthy_redis_serves_and_stores(
    cache: FailoverCache, sync_client: redis.Redis
) -> None:
    assert (cache.source, cache.redis_enabled, cache.redis_available) == ("redis", True, True)
    await cache.set(KEY, '{"trend":"up"}', ttl_s=300)
    assert await cache.get(KEY) == CacheHit('{"trend":"up"}', "redis")
    assert sync_client.get(KEY) == '{"trend":"up"}'
    assert 0 < sync_client.ttl(KEY) <= 300
    sync_client.set("hama:analysis:ETHUSDT", "written by another replica", ex=60)
    assert await cache.mget([KEY, "hama:analysis:ETHUSDT", "nope"]) == [
        CacheHit('{"trend":"up"}', "redis"),
        CacheHit("written by another replica", "redis"),
        None,
    ]
    assert await cache.count("hama:analysis:") == 2
    assert await cache.ttl_s(KEY) == pytest.approx(300, abs=1)
    await cache.delete(KEY)
    assert sync_client.exists(KEY) == 0
    assert (cache.redis_errors, cache.outages, cache.last_switch_at) == (0, 0, None)


async def test_redis_dies_mid_run_and_comes_back(
    cache: FailoverCache,
    fresh_redis_server: RedisServer,
    sync_client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    await cache.set(KEY, "before", ttl_s=60)
    await cache.set("hama:analysis:DOOMED", "before", ttl_s=60)

    fresh_redis_server.stop()
    started = time.monotonic()
    hits = await asyncio.gather(*(cache.get(KEY) for _ in range(50)))
    assert time.monotonic() - started < 2 * TIMEOUT_S + 0.2
    assert hits == [CacheHit("before", "memory")] * 50
    assert cache.source == "memory"
    assert not cache.redis_available
    assert cache.redis_errors >= 1
    assert cache.outages == 1
    assert cache.last_switch_at is not None and cache.last_switch_at <= time.time()

    # In memory mode Redis is not touched: no new errors, every call instant.
    errors = cache.redis_errors
    started = time.monotonic()
    await cache.set("hama:analysis:SOLUSDT", "during", ttl_s=30)
    await cache.delete("hama:analysis:DOOMED")
    assert await cache.get("hama:analysis:SOLUSDT") == CacheHit("during", "memory")
    assert sorted(await cache.scan_keys("hama:analysis:")) == [KEY, "hama:analysis:SOLUSDT"]
    assert await cache.ttl_s("hama:analysis:SOLUSDT") == pytest.approx(30, abs=1)
    assert time.monotonic() - started < 0.1
    assert cache.redis_errors == errors
    down = [m for m in warnings_logged(caplog) if "Redis unavailable" in m]
    assert len(down) == 1
    assert "serving from memory until it answers again" in down[0]

    fresh_redis_server.start()  # same port
    await wait_until(lambda: cache.source == "redis", timeout_s=10 * PROBE_S + 1)
    assert cache.redis_available
    assert sync_client.get("hama:analysis:SOLUSDT") == "during"
    assert 0 < sync_client.ttl("hama:analysis:SOLUSDT") <= 30
    assert sync_client.exists("hama:analysis:DOOMED") == 0
    assert await cache.get("hama:analysis:SOLUSDT") == CacheHit("during", "redis")
    back = [r.getMessage() for r in caplog.records if "Redis is back" in r.getMessage()]
    assert len(back) == 1
    assert caplog.records[-1].levelno == logging.INFO
    assert cache.outages == 1


async def test_second_outage_is_detected_again(
    cache: FailoverCache, fresh_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    for outage in (1, 2):
        fresh_redis_server.stop()
        await cache.set(f"k{outage}", "v", ttl_s=30)  # the write itself still succeeds
        assert cache.source == "memory"
        assert cache.outages == outage
        fresh_redis_server.start()
        await wait_until(lambda: cache.source == "redis")
    assert len([m for m in warnings_logged(caplog) if "Redis unavailable" in m]) == 2
    # Each restart empties Redis; only writes made during the outage are written back.
    assert await cache.scan_keys("k") == ["k2"]


async def test_redis_down_at_start_then_recovers(fresh_redis_server: RedisServer) -> None:
    fresh_redis_server.stop()
    cache = make_cache(fresh_redis_server.url)
    try:
        await cache.start()
        assert cache.source == "memory"
        assert cache.outages == 1
        await cache.set(KEY, "from memory", ttl_s=20)
        assert await cache.get(KEY) == CacheHit("from memory", "memory")
        fresh_redis_server.start()
        await wait_until(lambda: cache.source == "redis")
        assert await cache.get(KEY) == CacheHit("from memory", "redis")
        ttl = await cache.ttl_s(KEY)
        assert ttl is not None and 0 < ttl <= 20
    finally:
        await cache.close()


async def test_redis_disabled_is_memory_only() -> None:
    cache = make_cache(None)
    await cache.start()
    try:
        assert (cache.source, cache.redis_enabled, cache.redis_available) == (
            "memory",
            False,
            False,
        )
        await cache.set(KEY, "v", ttl_s=0.3)
        assert await cache.mget([KEY, "x"]) == [CacheHit("v", "memory"), None]
        assert await cache.count("hama:") == 1
        await asyncio.sleep(0.4)
        assert await cache.get(KEY) is None
        assert (cache.redis_errors, cache.outages) == (0, 0)
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "perpwatch-redis-probe"]
    finally:
        await cache.close()


@pytest.fixture
def hung_redis_url() -> Iterator[str]:
    """Accepts TCP connections, never answers: the worst kind of dead Redis."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    sock.close()


async def test_hung_redis_costs_one_timeout_then_nothing(hung_redis_url: str) -> None:
    cache = make_cache(hung_redis_url)  # not started: the first read discovers the outage
    try:
        await cache.set(KEY, "v", ttl_s=10)
        assert cache.source == "memory"
        started = time.monotonic()
        hits = await asyncio.gather(*(cache.get(KEY) for _ in range(100)))
        assert time.monotonic() - started < 0.05
        assert hits == [CacheHit("v", "memory")] * 100
        assert cache.redis_errors == 1
    finally:
        await cache.close()


async def test_close_cancels_the_probe(fresh_redis_server: RedisServer) -> None:
    fresh_redis_server.stop()
    cache = make_cache(fresh_redis_server.url)
    await cache.start()
    probes = [t for t in asyncio.all_tasks() if t.get_name() == "perpwatch-redis-probe"]
    assert len(probes) == 1
    await cache.close()
    assert probes[0].done()
    fresh_redis_server.start()
    await asyncio.sleep(3 * PROBE_S)
    assert cache.source == "memory"


async def test_writes_racing_the_recovery_are_not_lost(
    cache: FailoverCache, fresh_redis_server: RedisServer, sync_client: redis.Redis
) -> None:
    written: list[str] = []

    async def writer() -> None:
        for i in range(10_000):
            key = f"live:{i}"
            await cache.set(key, str(i), ttl_s=30)
            written.append(key)
            await asyncio.sleep(0.002)

    fresh_redis_server.stop()
    task = asyncio.create_task(writer())
    try:
        await wait_until(lambda: len(written) > 20 and cache.source == "memory")
        fresh_redis_server.start()
        await wait_until(lambda: cache.source == "redis")
        count = len(written)
        # writes go on past the recovery (and past 60 in all, whatever the machine's pace)
        await wait_until(lambda: len(written) > max(count + 20, 60))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sync_client.dbsize() >= len(written) > 60
    assert all(v is not None for v in sync_client.mget(written))


async def test_confirm_notices_an_outage_that_no_operation_met(
    cache: FailoverCache, fresh_redis_server: RedisServer
) -> None:
    assert await cache.confirm() is True
    assert cache.redis_available and cache.redis_errors == 0
    fresh_redis_server.stop()  # and nothing reads or writes the cache meanwhile
    assert cache.redis_available  # what the last operation said
    assert await cache.confirm() is False  # one PING, and the cache knows
    assert not cache.redis_available and cache.source == "memory" and cache.outages == 1
    fresh_redis_server.start()  # same port: the probe brings it back by itself
    await wait_until(lambda: cache.redis_available)
    assert await cache.confirm() is True and cache.outages == 1
