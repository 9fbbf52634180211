"""Redis backend. Every redis-py failure becomes :class:`CacheUnavailable` here.

The client never retries (the failover cache decides what to do) and uses short socket
timeouts, so a dead Redis costs a caller at most about one timeout. Only small, cluster-
friendly commands are used: GET, MGET (one per hash slot on a cluster), SET PX, DEL,
SCAN MATCH (on every master of a cluster), PTTL, PING (every master of a cluster, so the
failover probe sees a master that is down).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from perpwatch.cache.base import glob_escape, ttl_ms
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, mget_grouped, open_redis, ping, scan_match

logger = logging.getLogger(__name__)

SCAN_COUNT = 1000
PIPELINE_CHUNK = 500
_ERRORS = REDIS_ERRORS


def _text(value: bytes | str | None) -> str | None:
    """The client decodes responses already; this only narrows redis-py's types."""
    return value.decode() if isinstance(value, bytes) else value


class RedisCache:
    """A :class:`~perpwatch.cache.base.Cache` on one Redis server (``redis://`` URL), or
    with ``cluster`` on a Redis Cluster (the URL names any node)."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout_s: float = 0.25,
        health_check_interval_s: int = 15,
        cluster: bool = False,
    ) -> None:
        if socket_timeout_s <= 0:
            raise ValueError("socket_timeout_s must be positive")
        self._socket_timeout_s = socket_timeout_s
        # Hard ceiling per round trip: connect + command, each bounded by the socket timeout.
        self._deadline_s = 2 * socket_timeout_s
        self._client = open_redis(
            url,
            cluster=cluster,
            socket_timeout_s=socket_timeout_s,
            health_check_interval_s=health_check_interval_s,
        )

    @property
    def socket_timeout_s(self) -> float:
        return self._socket_timeout_s

    @asynccontextmanager
    async def _edge(self, what: str) -> AsyncIterator[None]:
        """Bound one round trip and turn any client error into :class:`CacheUnavailable`."""
        try:
            async with asyncio.timeout(self._deadline_s):
                yield
        except _ERRORS as e:
            reason = str(e) or type(e).__name__
            raise CacheUnavailable(f"redis {what} failed: {reason}") from e

    async def get(self, key: str) -> str | None:
        async with self._edge("GET"):
            value = await self._client.get(key)
        return _text(value)

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        async with self._edge("MGET"):
            values = await mget_grouped(self._client, keys)
        return [_text(v) for v in values]

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        px = ttl_ms(ttl_s)
        async with self._edge("SET"):
            await self._client.set(key, value, px=px)

    async def set_many(self, items: Sequence[tuple[str, str, float]]) -> None:
        """``SET key value PX ttl`` for each ``(key, value, ttl_s)``, pipelined."""
        for start in range(0, len(items), PIPELINE_CHUNK):
            async with self._edge("SET (pipeline)"):
                pipe = self._client.pipeline(transaction=False)
                for key, value, ttl_s in items[start : start + PIPELINE_CHUNK]:
                    pipe.set(key, value, px=ttl_ms(ttl_s))
                await pipe.execute()

    async def delete(self, key: str) -> None:
        async with self._edge("DEL"):
            await self._client.delete(key)

    async def delete_many(self, keys: Sequence[str]) -> None:
        """``DEL`` each key, pipelined (one key per command, so fine on a cluster)."""
        for start in range(0, len(keys), PIPELINE_CHUNK):
            async with self._edge("DEL (pipeline)"):
                pipe = self._client.pipeline(transaction=False)
                for key in keys[start : start + PIPELINE_CHUNK]:
                    pipe.delete(key)
                await pipe.execute()

    async def scan_keys(self, prefix: str) -> list[str]:
        async with self._edge("SCAN"):
            keys = await scan_match(self._client, glob_escape(prefix) + "*", count=SCAN_COUNT)
        return [k.decode() for k in keys]

    async def ttl_s(self, key: str) -> float | None:
        async with self._edge("PTTL"):
            ms: int = await self._client.pttl(key)
        if ms == -2:
            return None
        if ms == -1:  # no expiry (not written by perpwatch)
            return math.inf
        return ms / 1000.0

    async def ping(self) -> bool:
        try:
            async with self._edge("PING"):
                return await ping(self._client)
        except CacheUnavailable as e:
            logger.debug("redis PING failed: %s", e)
            return False

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except _ERRORS as e:  # closing a dead connection must not fail shutdown
            logger.debug("closing redis client: %s", e)
