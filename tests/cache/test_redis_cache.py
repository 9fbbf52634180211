"""RedisCache against a real redis-server: values plain Redis clients can read."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from perpwatch.cache.redis_cache import RedisCache
from perpwatch.errors import CacheUnavailable

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

TIMEOUT_S = 0.2


@pytest.fixture
def sync_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[RedisCache]:
    c = RedisCache(redis_url, socket_timeout_s=TIMEOUT_S)
    yield c
    await c.close()


async def test_values_are_plain_redis_strings_with_ttl(
    cache: RedisCache, sync_client: redis.Redis
) -> None:
    await cache.set("hama:analysis:BTCUSDT", '{"trend":"up"}', ttl_s=300)
    assert sync_client.get("hama:analysis:BTCUSDT") == '{"trend":"up"}'
    assert 0 < sync_client.ttl("hama:analysis:BTCUSDT") <= 300
    assert await cache.get("hama:analysis:BTCUSDT") == '{"trend":"up"}'
    assert await cache.ttl_s("hama:analysis:BTCUSDT") == pytest.approx(300, abs=1)


async def test_fractional_ttl_expires(cache: RedisCache, sync_client: redis.Redis) -> None:
    await cache.set("k", "v", ttl_s=0.3)
    assert 0 < sync_client.pttl("k") <= 300
    assert await cache.get("k") == "v"
    await asyncio.sleep(0.4)
    assert await cache.get("k") is None
    assert await cache.ttl_s("k") is None


async def test_ttl_of_key_without_expiry_is_infinite(
    cache: RedisCache, sync_client: redis.Redis
) -> None:
    sync_client.set("persistent", "v")
    assert await cache.ttl_s("persistent") == math.inf
    assert await cache.ttl_s("missing") is None


async def test_mget_and_delete(cache: RedisCache) -> None:
    await cache.set("a", "1", ttl_s=10)
    await cache.set("c", "3", ttl_s=10)
    assert await cache.mget(["c", "b", "a"]) == ["3", None, "1"]
    assert await cache.mget([]) == []
    await cache.delete("a")
    await cache.delete("never-there")
    assert await cache.get("a") is None


async def test_scan_keys_escapes_glob_characters(
    cache: RedisCache, sync_client: redis.Redis
) -> None:
    for key in ["x*y:1", "x*y:2", "xay:1", "x?y:1", "x[y]:1", "x\\y:1", "other"]:
        sync_client.set(key, "v")
    assert sorted(await cache.scan_keys("x*y:")) == ["x*y:1", "x*y:2"]
    assert await cache.scan_keys("x?y:") == ["x?y:1"]
    assert await cache.scan_keys("x[y]:") == ["x[y]:1"]
    assert await cache.scan_keys("x\\y") == ["x\\y:1"]
    assert await cache.scan_keys("nope") == []


async def test_scan_keys_follows_the_cursor(cache: RedisCache, sync_client: redis.Redis) -> None:
    with sync_client.pipeline(transaction=False) as pipe:
        for i in range(2500):
            pipe.set(f"hama:analysis:S{i}", "v")
            pipe.set(f"funding:S{i}", "v")
        pipe.execute()
    keys = await cache.scan_keys("hama:analysis:")
    assert len(keys) == 2500
    assert set(keys) == {f"hama:analysis:S{i}" for i in range(2500)}


async def test_set_many_and_delete_many(cache: RedisCache, sync_client: redis.Redis) -> None:
    await cache.set_many([(f"k{i}", str(i), 60.0) for i in range(1200)])
    assert sync_client.get("k1199") == "1199"
    assert 0 < sync_client.ttl("k0") <= 60
    await cache.delete_many([f"k{i}" for i in range(1000)])
    assert sync_client.dbsize() == 200


async def test_invalid_ttl_is_a_value_error(cache: RedisCache) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await cache.set("k", "v", ttl_s=0)


async def test_stopped_server_raises_cache_unavailable_fast(
    fresh_redis_server: RedisServer,
) -> None:
    cache = RedisCache(fresh_redis_server.url, socket_timeout_s=TIMEOUT_S)
    try:
        assert await cache.ping() is True
        await cache.set("k", "v", ttl_s=10)
        fresh_redis_server.stop()
        assert await cache.ping() is False
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: cache.get("k"),
            lambda: cache.mget(["k"]),
            lambda: cache.set("k", "v", ttl_s=1),
            lambda: cache.delete("k"),
            lambda: cache.scan_keys("k"),
            lambda: cache.ttl_s("k"),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(CacheUnavailable) as info:
                await call()
            assert time.monotonic() - started < 2 * TIMEOUT_S + 0.1
            assert info.value.__cause__ is not None
    finally:
        await cache.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers (a hung Redis)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    sock.close()


async def test_hung_server_costs_about_one_socket_timeout(silent_server: str) -> None:
    cache = RedisCache(silent_server, socket_timeout_s=TIMEOUT_S)
    try:
        started = time.monotonic()
        with pytest.raises(CacheUnavailable):
            await cache.get("k")
        elapsed = time.monotonic() - started
        assert TIMEOUT_S * 0.9 <= elapsed < 2 * TIMEOUT_S + 0.1
        assert await cache.ping() is False
    finally:
        await cache.close()
