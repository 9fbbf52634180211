"""RedisCache and FailoverCache on a real 3-master Redis Cluster (a replica per master).

The seed's key names are kept and spread over the masters; multi-key reads never cross a
slot; the failover probe's PING sees a dead master (redis-py's own cluster PING does not);
and a killed master is answered from memory until its replica is promoted, then the cache
goes back to the cluster by itself, once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from tests.support.redis_cluster import RedisCluster

TIMEOUT_S = 0.25
PROBE_S = 0.1
KEY = "hama:analysis:BTCUSDT"
KEYS = [KEY, *(f"hama:analysis:SYM{i:02d}USDT" for i in range(59))]
BACK_WITHIN_S = 3.0  # from the promotion seen by the test to the cache on Redis again


def value(key: str) -> str:
    return f'{{"key":"{key}"}}'


async def replicate(url: str) -> None:
    """Every write so far has reached each master's replica (what a promotion keeps)."""
    client = AsyncRedisCluster.from_url(url)
    try:
        await client.initialize()
        for node in client.get_primaries():
            assert await client.execute_command("WAIT", 1, 2000, target_nodes=node) == 1
    finally:
        await client.aclose()


def stored_on_node(port: int, key: str) -> bytes | None:
    """``GET key`` on one node itself (no cluster routing): the name really is ``key``."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        raw: bytes | None = client.get(key)
        return raw
    finally:
        client.close()


@pytest.fixture
async def cache(cluster_url: str) -> AsyncIterator[RedisCache]:
    c = RedisCache(cluster_url, socket_timeout_s=TIMEOUT_S, cluster=True)
    yield c
    await c.close()


async def test_keys_keep_their_names_and_spread_over_the_masters(
    cache: RedisCache, redis_cluster: RedisCluster
) -> None:
    await cache.set_many([(k, value(k), 300.0) for k in KEYS])
    owners = {k: redis_cluster.port_for_key(k) for k in KEYS}
    assert set(owners.values()) == set(redis_cluster.masters())  # no hash tags: spread
    for k in (KEY, *KEYS[1:6]):
        assert stored_on_node(owners[k], k) == value(k).encode()
    # one read of keys on every master, in any order, with misses: no CROSSSLOT
    wanted = [*reversed(KEYS), "hama:analysis:NOPEUSDT", KEY]
    assert await cache.mget(wanted) == [
        *(value(k) for k in reversed(KEYS)),
        None,
        value(KEY),
    ]
    assert sorted(await cache.scan_keys("hama:analysis:")) == sorted(KEYS)
    ttl = await cache.ttl_s(KEY)
    assert ttl is not None and 299 < ttl <= 300
    await cache.delete_many(KEYS[::2])
    assert await cache.mget(KEYS[:4]) == [None, value(KEYS[1]), None, value(KEYS[3])]
    assert await cache.ping() is True


async def test_ping_sees_a_dead_master_that_redis_py_cluster_ping_misses(
    cache: RedisCache, cluster_url: str, redis_cluster: RedisCluster
) -> None:
    plain = AsyncRedisCluster.from_url(cluster_url)
    try:
        assert await plain.ping() is True
        default = plain.get_default_node()
        assert default is not None
        victim = next(p for p in redis_cluster.masters() if p != default.port)
        assert await cache.ping() is True

        redis_cluster.kill_master(victim)
        assert await plain.ping() is True  # redis-py asks its default node only
        assert await cache.ping() is False  # every master: one is dead
        redis_cluster.wait_failover(timeout_s=10)
        deadline = time.monotonic() + BACK_WITHIN_S
        while not await cache.ping():
            assert time.monotonic() < deadline, "PING did not recover after the promotion"
            await asyncio.sleep(0.05)
        await cache.set(KEY, value(KEY), ttl_s=60)  # the slot map is the new one
        assert await cache.get(KEY) == value(KEY)
    finally:
        await plain.aclose()


async def test_a_killed_master_is_served_from_memory_then_redis_again_by_itself(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    victim = redis_cluster.port_for_key(KEY)
    # the client starts from another master (its PING node), and the entry written during
    # the outage lives on a third: a probe that PINGed one node, or wrote back only that
    # entry, would switch back while the victim's slots have no master, and flap
    seed = next(p for p in redis_cluster.masters() if p != victim)
    written = next(
        k
        for k in (f"hama:analysis:NEW{i}USDT" for i in range(100))
        if redis_cluster.port_for_key(k) not in (victim, seed)
    )
    fc = FailoverCache(
        redis=RedisCache(f"redis://127.0.0.1:{seed}/0", socket_timeout_s=TIMEOUT_S, cluster=True),
        memory=MemoryCache(),
        probe_interval_s=PROBE_S,
    )
    await fc.start()
    try:
        for k in KEYS:
            await fc.set(k, value(k), ttl_s=300)
        await replicate(cluster_url)
        assert fc.source == "redis"

        killed_at = time.monotonic()
        redis_cluster.kill_master(victim)
        hit = await fc.get(KEY)
        assert hit is not None and hit.value == value(KEY) and hit.source == "memory"
        assert time.monotonic() - killed_at < 1.0
        await fc.set(written, value("new"), ttl_s=300)  # during the outage: memory only

        async def read_all() -> None:
            hits = await fc.mget(KEYS)
            assert [h.value if h else None for h in hits] == [value(k) for k in KEYS]

        await read_all()
        promoted = asyncio.create_task(asyncio.to_thread(redis_cluster.wait_failover, 10))
        while not promoted.done():  # reads go on through the failover, all answered
            await read_all()
            await asyncio.sleep(0.02)
        await promoted
        promoted_at = time.monotonic()
        while fc.source != "redis":
            assert time.monotonic() - promoted_at < BACK_WITHIN_S, "not back on Redis"
            await read_all()
            await asyncio.sleep(0.02)
        back_s = time.monotonic() - killed_at

        await read_all()
        assert fc.source == "redis" and fc.outages == 1  # one switch each way, no flapping
        new = await fc.get(written)
        assert new is not None and new.source == "redis" and new.value == value("new")
        got = await fc.get(KEY)  # from the promoted replica
        assert got is not None and got.source == "redis" and got.value == value(KEY)
        promoted_s = redis_cluster.last_failover_s or 0.0
        print(f"promoted {promoted_s:.2f} s, back on Redis {back_s:.2f} s after the kill")
    finally:
        await fc.close()
