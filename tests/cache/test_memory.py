"""MemoryCache: Redis-like TTLs, literal prefixes, bounded size."""

from __future__ import annotations

import asyncio

import pytest

from perpwatch.cache.memory import MemoryCache


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(clock: FakeClock) -> MemoryCache:
    return MemoryCache(clock=clock)


async def test_set_get_and_ttl(cache: MemoryCache, clock: FakeClock) -> None:
    await cache.set("hama:analysis:BTCUSDT", '{"trend":"up"}', ttl_s=10)
    assert await cache.get("hama:analysis:BTCUSDT") == '{"trend":"up"}'
    assert await cache.ttl_s("hama:analysis:BTCUSDT") == pytest.approx(10)
    clock.advance(4)
    assert await cache.ttl_s("hama:analysis:BTCUSDT") == pytest.approx(6)
    assert await cache.get("missing") is None
    assert await cache.ttl_s("missing") is None


async def test_expired_entries_are_invisible_everywhere(
    cache: MemoryCache, clock: FakeClock
) -> None:
    await cache.set("k:short", "a", ttl_s=1)
    await cache.set("k:long", "b", ttl_s=5)
    clock.advance(1)  # exactly at expiry: gone, like Redis
    assert await cache.get("k:short") is None
    assert await cache.mget(["k:short", "k:long"]) == [None, "b"]
    assert await cache.scan_keys("k:") == ["k:long"]
    assert await cache.ttl_s("k:short") is None
    assert [k for k, _, _ in cache.items_with_ttl()] == ["k:long"]


async def test_real_time_expiry() -> None:
    cache = MemoryCache()
    await cache.set("k", "v", ttl_s=0.3)
    assert await cache.get("k") == "v"
    await asyncio.sleep(0.4)
    assert await cache.get("k") is None


async def test_overwrite_resets_value_and_ttl(cache: MemoryCache, clock: FakeClock) -> None:
    await cache.set("k", "old", ttl_s=1)
    await cache.set("k", "new", ttl_s=10)
    clock.advance(2)
    assert await cache.get("k") == "new"
    assert await cache.ttl_s("k") == pytest.approx(8)


async def test_mget_keeps_order_and_reports_missing(cache: MemoryCache) -> None:
    await cache.set("a", "1", ttl_s=10)
    await cache.set("c", "3", ttl_s=10)
    assert await cache.mget(["c", "b", "a", "c"]) == ["3", None, "1", "3"]
    assert await cache.mget([]) == []


async def test_delete(cache: MemoryCache) -> None:
    await cache.set("k", "v", ttl_s=10)
    await cache.delete("k")
    await cache.delete("never-there")
    assert await cache.get("k") is None
    assert len(cache) == 0


async def test_scan_keys_prefix_is_literal(cache: MemoryCache) -> None:
    for key in ["x*y:1", "x*y:2", "xay:1", "x?y:1", "x[y]:1", "other"]:
        await cache.set(key, "v", ttl_s=10)
    assert sorted(await cache.scan_keys("x*y:")) == ["x*y:1", "x*y:2"]
    assert await cache.scan_keys("x?y:") == ["x?y:1"]
    assert await cache.scan_keys("x[y]:") == ["x[y]:1"]
    assert len(await cache.scan_keys("")) == 6
    assert await cache.scan_keys("nope") == []


async def test_max_entries_evicts_closest_to_expiry(clock: FakeClock) -> None:
    cache = MemoryCache(max_entries=3, clock=clock)
    await cache.set("ttl50", "v", ttl_s=50)
    await cache.set("ttl10", "v", ttl_s=10)
    await cache.set("ttl30", "v", ttl_s=30)
    await cache.set("ttl20", "v", ttl_s=20)  # evicts ttl10
    assert len(cache) == 3
    assert sorted(await cache.scan_keys("ttl")) == ["ttl20", "ttl30", "ttl50"]
    await cache.set("ttl1", "v", ttl_s=1)  # the new entry stays; ttl20 goes
    assert await cache.get("ttl1") == "v"
    assert sorted(await cache.scan_keys("ttl")) == ["ttl1", "ttl30", "ttl50"]
    await cache.set("ttl30", "again", ttl_s=30)  # overwriting never evicts
    assert len(cache) == 3


async def test_writes_sweep_expired_entries(cache: MemoryCache, clock: FakeClock) -> None:
    for i in range(500):
        await cache.set(f"old:{i}", "v", ttl_s=1)
    clock.advance(2)
    await cache.set("new", "v", ttl_s=10)
    assert len(cache) == 1


async def test_rewriting_one_key_does_not_grow_memory(cache: MemoryCache) -> None:
    for i in range(10_000):
        await cache.set("hot", str(i), ttl_s=60 + i)
    assert await cache.get("hot") == "9999"
    assert len(cache) == 1
    assert len(cache._heap) <= 2 * len(cache) + 65


async def test_items_with_ttl(cache: MemoryCache, clock: FakeClock) -> None:
    await cache.set("a", "1", ttl_s=10)
    await cache.set("b", "2", ttl_s=1)
    clock.advance(3)
    [(key, value, remaining)] = cache.items_with_ttl()
    assert (key, value) == ("a", "1")
    assert remaining == pytest.approx(7)


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan")])
async def test_invalid_ttl_is_rejected(cache: MemoryCache, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await cache.set("k", "v", ttl_s=ttl)


async def test_ping_and_close(cache: MemoryCache) -> None:
    await cache.set("k", "v", ttl_s=10)
    assert await cache.ping() is True
    await cache.close()
    assert len(cache) == 0
