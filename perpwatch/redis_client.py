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
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, TypeAlias

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import RedisError

RedisClient: TypeAlias = "aioredis.Redis | RedisCluster"

# Everything a Redis round trip can raise that means "Redis did not answer properly".
REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, asyncio.TimeoutError)


def open_redis(
    url: str,
    *,
    cluster: bool = False,
    socket_timeout_s: float = 0.25,
    health_check_interval_s: int = 15,
    max_connections: int | None = None,
) -> RedisClient:
    """A client for ``url`` (``redis://`` or ``rediss://``); not connected until first use."""
    if socket_timeout_s <= 0:
        raise ValueError("socket_timeout_s must be positive")
    if cluster:
        return RedisCluster.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
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
        socket_connect_timeout=socket_timeout_s,
        decode_responses=False,
        health_check_interval=health_check_interval_s,
        retry=Retry(NoBackoff(), 1),
        **_pool_size(max_connections),
    )


def _pool_size(max_connections: int | None) -> dict[str, Any]:
    return {"max_connections": max_connections} if max_connections else {}


def is_cluster(client: RedisClient) -> bool:
    return isinstance(client, RedisCluster)


def slot_groups(keys: Sequence[str]) -> dict[int, list[int]]:
    """Indexes of ``keys`` grouped by their cluster hash slot."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key_slot(key.encode())].append(i)
    return groups


async def mget_grouped(client: RedisClient, keys: Sequence[str]) -> list[bytes | None]:
    """``MGET`` that works on a cluster: one ``MGET`` per hash slot, sent in one pipeline
    (redis-py sends a cluster pipeline's commands to each node concurrently)."""
    if not keys:
        return []
    if not isinstance(client, RedisCluster):
        values: list[Any] = await client.mget(list(keys))
        return values
    groups = slot_groups(keys)
    out: list[bytes | None] = [None] * len(keys)
    async with client.pipeline(transaction=False) as pipe:
        order = list(groups.values())
        for idx in order:
            pipe.mget([keys[i] for i in idx])
        answers = await pipe.execute()
    for idx, values in zip(order, answers, strict=True):
        for i, value in zip(idx, values, strict=True):
            out[i] = value
    return out


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
