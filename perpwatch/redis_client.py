"""One way to open a Redis client: a single server or a Redis Cluster, with perpwatch's limits.

``REDIS_CLUSTER=true`` with ``REDIS_URL`` naming any node opens redis-py's asyncio
:class:`~redis.asyncio.cluster.RedisCluster`; otherwise a plain
:class:`~redis.asyncio.Redis`. Both answer the same commands, so the code above this
module does not care which it has, except for multi-key reads: :func:`mget_grouped`
groups keys by hash slot so that a cluster never answers ``CROSSSLOT``.

Clients never retry on their own beyond one immediate retry on a fresh connection
(after a Redis restart every pooled connection is dead once); the callers decide what a
failure means. Responses are bytes (``decode_responses=False``): the cache-hit path hands
stored JSON to the socket without decoding it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

RedisClient: TypeAlias = "aioredis.Redis | RedisCluster"

# Everything a Redis round trip can raise that means "Redis did not answer properly".
# redis-py's cluster errors are not all RedisErrors: a cluster client that finds no node to
# ask ("cannot be connected"), or no master for a slot, raises RedisClusterException.
# And on uvloop (what uvicorn runs), a write to a connection whose transport has closed
# under it (its node died) raises RuntimeError ("unable to perform operation on
# <TCPTransport closed=True>"), not an OSError.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    RedisClusterException,
    OSError,
    asyncio.TimeoutError,
    RuntimeError,
)


def open_redis(
    url: str,
    *,
    cluster: bool = False,
    socket_timeout_s: float = 0.25,
    connect_timeout_s: float | None = None,
    health_check_interval_s: int = 15,
    max_connections: int | None = None,
) -> RedisClient:
    """A client for ``url`` (``redis://`` or ``rediss://``); not connected until first use.

    ``connect_timeout_s`` defaults to ``socket_timeout_s``; a client that blocks on a
    command for long (a queue's ``BLMOVE``) wants a long socket timeout, not a long connect.
    """
    if socket_timeout_s <= 0:
        raise ValueError("socket_timeout_s must be positive")
    connect_s = socket_timeout_s if connect_timeout_s is None else connect_timeout_s
    if connect_s <= 0:
        raise ValueError("connect_timeout_s must be positive")
    if cluster:
        return RedisCluster.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=connect_s,
            decode_responses=False,
            health_check_interval=health_check_interval_s,
            # a killed master: one retry after re-reading the slot map, no sleeping through
            # retries of its own; meanwhile the failover cache answers from memory
            retry=Retry(NoBackoff(), 1),
            require_full_coverage=False,
            **_pool_size(max_connections),
        )
    return aioredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_s,
        decode_responses=False,
        health_check_interval=health_check_interval_s,
        retry=Retry(NoBackoff(), 1),
        **_pool_size(max_connections),
    )


def _pool_size(max_connections: int | None) -> dict[str, Any]:
    return {"max_connections": max_connections} if max_connections else {}


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)


async def mget_grouped(client: RedisClient, keys: Sequence[str]) -> list[bytes | None]:
    """``MGET`` that works on a cluster: one ``MGET`` per hash slot, sent in one pipeline
    (redis-py's ``mget_nonatomic``: each node gets the ``MGET`` commands of its slots in one
    round trip, the nodes concurrently). A cluster pipeline refuses ``pipe.mget`` itself."""
    if not keys:
        return []
    if isinstance(client, RedisCluster):
        per_slot: list[Any] = await client.mget_nonatomic(list(keys))
        return per_slot
    values: list[Any] = await client.mget(list(keys))
    return values


async def learn_nodes(client: RedisClient) -> bool:
    """Have a cluster client read the slot map now (one server: nothing to do); False if
    no node answered.

    A cluster client knows only the node of its URL until its first command; from then on
    it knows every node, and finds the promoted replica after a failover by itself. A
    client first used after that one node died finds nothing and waits for the node to
    come back, so a client that may stay idle for a while learns the nodes at start.
    """
    if not isinstance(client, RedisCluster):
        return True
    try:
        await client.initialize()
    except REDIS_ERRORS:
        return False
    return True


async def ping(client: RedisClient) -> bool:
    """``PING``; on a cluster, every master in the client's slot map. redis-py's cluster
    ``PING`` asks one node only, which says nothing of a dead master elsewhere: a probe
    that trusted it would switch back to Redis while a third of the slots have no master.
    A dead replica does not fail it (perpwatch reads and writes masters only)."""
    if isinstance(client, RedisCluster):
        return bool(await client.ping(target_nodes=RedisCluster.PRIMARIES))
    return bool(await client.ping())


async def scan_match(client: RedisClient, match: str, *, count: int = 1000) -> list[bytes]:
    """Every key matching ``match`` (``SCAN``, never ``KEYS``), on every master of a cluster;
    a key seen twice is listed once."""
    found: dict[bytes, None] = {}
    if isinstance(client, RedisCluster):
        async for key in client.scan_iter(match=match, count=count):
            found[key] = None
        return list(found)
    cursor = 0
    while True:
        reply: Any = await client.scan(cursor, match=match, count=count)
        cursor, keys = reply
        found.update(dict.fromkeys(keys))
        if cursor == 0:
            return list(found)


async def close_redis(client: RedisClient) -> None:
    """Close the client; closing a dead connection must not fail a shutdown."""
    with contextlib.suppress(*REDIS_ERRORS):
        await client.aclose()
