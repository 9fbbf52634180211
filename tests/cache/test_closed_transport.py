"""A Redis round trip on a connection whose transport closed under it, on uvloop (what
uvicorn runs): uvloop raises RuntimeError there, not an OSError. It must come out of the
adapters as a Redis error like any other lost connection, never as a 500."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from perpwatch.cache.redis_cache import RedisCache
from perpwatch.errors import CacheUnavailable


async def lose_transport_then_get(url: str) -> None:
    cache = RedisCache(url, socket_timeout_s=2.0)
    client = cache._client
    try:
        await cache.set("perpwatch:test:closed", "x", ttl_s=30)
        conn = client.connection_pool._available_connections[0]  # type: ignore[union-attr]
        assert conn._writer is not None
        conn._writer.transport.abort()  # the node died: the transport is closed
        await asyncio.sleep(0)
        with pytest.raises(CacheUnavailable):
            await cache.get("perpwatch:test:closed")
    finally:
        await cache.close()


def test_a_closed_transport_on_uvloop_is_a_redis_error(redis_url: str) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(lose_transport_then_get(redis_url))
