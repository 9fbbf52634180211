"""The test Redis Cluster itself: six real redis-server processes, a real failover."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import ClusterDownError, ConnectionError, SlotNotCoveredError

from tests.support.redis_cluster import SLOTS, RedisCluster

KEY = "hama:analysis:BTCUSDT"
OTHER_KEYS = [f"hama:analysis:SYM{i:03d}USDT" for i in range(100)]
ALL_KEYS = [KEY, *OTHER_KEYS]
TRANSIENT = (ConnectionError, ClusterDownError, SlotNotCoveredError)

T = TypeVar("T")


def value_of(key: str) -> str:
    return f"value-of-{key}"


def node_client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)


def replication_info(port: int) -> dict[str, object]:
    client = node_client(port)
    try:
        return dict(client.info("replication"))
    finally:
        client.close()


def dbsize(port: int) -> int:
    client = node_client(port)
    try:
        return int(client.dbsize())
    finally:
        client.close()


def owner_port(client: AsyncRedisCluster, key: str) -> int:
    """The port of the master the client routes ``key`` to (its own slot table)."""
    node = client.get_node_from_key(key)
    assert node is not None
    return int(node.port)


async def write_all(client: AsyncRedisCluster, keys: list[str]) -> None:
    for key in keys:
        assert await client.set(key, value_of(key)) is True


async def replicate(client: AsyncRedisCluster) -> None:
    """WAIT on each master's connection: every write above has reached its replica."""
    for node in client.get_primaries():
        acked = await client.execute_command("WAIT", 1, 5000, target_nodes=node)
        assert acked == 1, f"master {node.port} has no replica that acknowledged"


async def within(timeout_s: float, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, retried on the errors redis-py raises while a failover settles."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await call()
        except TRANSIENT:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.05)


def test_three_masters_each_with_one_linked_replica(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    """(``cluster_url`` heals what an earlier test of the session killed.)"""
    masters, replicas = redis_cluster.masters(), redis_cluster.replicas()
    assert len(masters) == 3
    assert len(replicas) == 3
    assert sorted(masters + replicas) == sorted(port for _, port in redis_cluster.startup_nodes)
    assert redis_cluster.url == f"redis://127.0.0.1:{masters[0]}/0"
    for master in masters:
        (replica,) = redis_cluster.replicas_of(master)
        info = replication_info(replica)
        assert info["role"] == "slave"
        assert info["master_port"] == master
        assert info["master_link_status"] == "up"
    for host, port in redis_cluster.startup_nodes:
        client = redis.Redis(host=host, port=port, decode_responses=True)
        try:
            info = client.cluster("INFO")
        finally:
            client.close()
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_assigned"]) == SLOTS
        assert int(info["cluster_known_nodes"]) == 6
        assert int(info["cluster_size"]) == 3


async def test_keys_are_spread_over_the_three_masters(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    client = AsyncRedisCluster.from_url(cluster_url, decode_responses=True)
    try:
        await write_all(client, ALL_KEYS)
        assert await client.get(KEY) == value_of(KEY)
        for key in OTHER_KEYS:
            assert await client.get(key) == value_of(key)
        owners = {key: owner_port(client, key) for key in ALL_KEYS}
        assert owners[KEY] == redis_cluster.port_for_key(KEY)
        await replicate(client)
    finally:
        await client.aclose()
    masters = redis_cluster.masters()
    assert set(owners.values()) == set(masters)
    sizes = {port: dbsize(port) for port in masters}
    assert all(size > 0 for size in sizes.values()), sizes
    assert sum(sizes.values()) == len(ALL_KEYS)
    for master in masters:  # the replicas hold the same keys
        (replica,) = redis_cluster.replicas_of(master)
        assert dbsize(replica) == sizes[master]


async def test_flushall_empties_every_node(cluster_url: str, redis_cluster: RedisCluster) -> None:
    client = AsyncRedisCluster.from_url(cluster_url)
    try:
        await write_all(client, OTHER_KEYS)
        await replicate(client)
    finally:
        await client.aclose()
    assert sum(dbsize(port) for port in redis_cluster.masters()) == len(OTHER_KEYS)
    redis_cluster.flushall()
    ports = redis_cluster.masters() + redis_cluster.replicas()
    assert {port: dbsize(port) for port in ports} == dict.fromkeys(ports, 0)


async def test_failover_keeps_replicated_keys_and_accepts_writes(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    client = AsyncRedisCluster.from_url(cluster_url, decode_responses=True)
    try:
        await write_all(client, ALL_KEYS)
        await replicate(client)
        owner = redis_cluster.port_for_key(KEY)
        (its_replica,) = redis_cluster.replicas_of(owner)

        killed = redis_cluster.kill_master(key=KEY)

        assert killed == owner
        assert not redis_cluster.running(killed)
        promoted = redis_cluster.wait_failover(timeout_s=10)
        assert promoted == its_replica
        assert redis_cluster.last_failover_s is not None
        assert redis_cluster.last_failover_s < 10
        assert redis_cluster.port_for_key(KEY) == promoted
        assert killed not in redis_cluster.masters()
        assert killed not in redis_cluster.replicas()
        assert len(redis_cluster.masters()) == 3

        # The same client object recovers by itself (no reinitialise by the test).
        assert await within(2.0, lambda: client.get(KEY)) == value_of(KEY)
        assert owner_port(client, KEY) == promoted
        for key in OTHER_KEYS:
            assert await within(2.0, functools.partial(client.get, key)) == value_of(key)
        assert await client.set(KEY, "written-after-failover") is True
        assert await client.get(KEY) == "written-after-failover"
        new_keys = [f"after-failover:{i}" for i in range(30)]
        await write_all(client, new_keys)
        for key in new_keys:
            assert await client.get(key) == value_of(key)
    finally:
        await client.aclose()


async def test_restarted_master_rejoins_as_replica_of_its_successor(
    cluster_url: str, redis_cluster: RedisCluster
) -> None:
    first = redis_cluster.masters()[0]
    (successor,) = redis_cluster.replicas_of(first)
    client = AsyncRedisCluster.from_url(cluster_url, decode_responses=True)
    try:
        await write_all(client, ALL_KEYS)
        await replicate(client)

        assert redis_cluster.kill_master() == first
        assert redis_cluster.wait_failover(timeout_s=10) == successor
        await within(2.0, lambda: client.set("during-outage", "1"))
        started = time.monotonic()
        redis_cluster.restart_node(first, timeout_s=10)
        rejoin_s = time.monotonic() - started

        assert redis_cluster.running(first)
        assert first in redis_cluster.replicas()
        assert redis_cluster.replicas_of(successor) == [first]
        info = replication_info(first)
        assert info["role"] == "slave"
        assert info["master_port"] == successor
        assert info["master_link_status"] == "up"
        assert dbsize(first) == dbsize(successor) > 0
        assert rejoin_s < 10
        # every master has its replica again, writes still work
        assert len(redis_cluster.masters()) == 3
        assert len(redis_cluster.replicas()) == 3
        assert await client.set(KEY, "after-rejoin") is True
        assert await client.get(KEY) == "after-rejoin"
    finally:
        await client.aclose()


def test_a_failed_start_leaves_no_process_and_no_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned: list[int] = []
    directories: list[Path] = []
    real_form = RedisCluster._form_cluster

    def form_then_fail(self: RedisCluster) -> None:
        spawned.extend(proc.pid for proc in self._procs.values())
        directories.append(self.directory)
        real_form(self)
        raise RuntimeError("boom in the middle of start")

    monkeypatch.setattr(RedisCluster, "_form_cluster", form_then_fail)
    cluster = RedisCluster()
    with pytest.raises(RuntimeError, match="boom in the middle"), cluster:
        pass
    assert len(spawned) == 6
    for pid in spawned:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not directories[0].exists()
    assert cluster.running_ports() == []


def test_a_start_timeout_reports_the_node_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RedisCluster, "_meet_problems", lambda self: ["never met"])
    cluster = RedisCluster(start_timeout_s=0.5)
    with pytest.raises(RuntimeError) as raised:
        cluster.start()
    message = str(raised.value)
    assert "never met" in message
    assert message.count("--- redis-server :") == 6
    assert "Ready to accept connections" in message  # the tail of a node's log
    assert cluster.running_ports() == []
