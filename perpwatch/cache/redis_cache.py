"""Redis backend. Every redis-py failure becomes :class:`CacheUnavailable` here.

The client never retries (the failover cache decides what to do) and uses short socket
timeouts, so a dead Redis costs a caller at most about one timeout. Only small, cluster-
friendly commands are used: GET, MGET, SET PX, DEL, SCAN MATCH, PTTL, PING.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from perpwatch.cache.base import glob_escape, ttl_ms
from perpwatch.errors import CacheUnavailable

logger = logging.getLogger(__name__)

SCAN_COUNT = 1000
PIPELINE_CHUNK = 500
_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def _text(value: bytes | str | None) -> str | None:
    """The client decodes responses already; this only narrows redis-py's types."""
    return value.decode() if isinstance(value, bytes) else value


class RedisCache:
    """A :class:`~perpwatch.cache.base.Cache` on one Redis server (``redis://`` URL)."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout_s: float = 0.25,
        health_check_interval_s: int = 15,
    ) -> None:
        if socket_timeout_s <= 0:
            raise ValueError("socket_timeout_s must be positive")
        self._socket_timeout_s = socket_timeout_s
        # Hard ceiling per round trip: connect + command, each bounded by the socket timeout.
        self._deadline_s = 2 * socket_timeout_s
        self._client = aioredis.Redis.from_url(
            url,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            decode_responses=True,
            health_check_interval=health_check_interval_s,
            # one immediate retry on a fresh connection: after a Redis restart every pooled
            # connection is dead and would otherwise fail once (each a false "outage");
            # _edge still bounds the whole round trip to two socket timeouts
            retry=Retry(NoBackoff(), 1),
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
            values = await self._client.mget(list(keys))
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
        match = glob_escape(prefix) + "*"
        found: dict[str, None] = {}  # SCAN may return a key twice; keep first-seen order
        cursor = 0
        while True:
            async with self._edge("SCAN"):
                cursor, keys = await self._client.scan(cursor, match=match, count=SCAN_COUNT)
            found.update(dict.fromkeys(str(_text(k)) for k in keys))
            if cursor == 0:
                return list(found)

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
                return bool(await self._client.ping())
        except CacheUnavailable as e:
            logger.debug("redis PING failed: %s", e)
            return False

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except _ERRORS as e:  # closing a dead connection must not fail shutdown
            logger.debug("closing redis client: %s", e)
