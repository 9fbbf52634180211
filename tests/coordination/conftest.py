from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from perpwatch.redis_client import RedisClient, close_redis, open_redis


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[RedisClient]:
    c = open_redis(redis_url, socket_timeout_s=2.0)
    try:
        yield c
    finally:
        await close_redis(c)
