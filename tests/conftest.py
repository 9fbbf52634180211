"""Shared fixtures. Keep this file small and generic: other areas will add their own
fixtures here (or in a conftest.py of their test folder) later."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

try:  # ``tests`` is a package once someone adds tests/__init__.py
    from tests.support.redis_server import RedisServer
except ModuleNotFoundError:  # rootdir-style conftest: tests/ itself is on sys.path
    from support.redis_server import RedisServer  # type: ignore[no-redef, import-not-found, unused-ignore]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the whole run. Do not stop it; use ``fresh_redis_server``."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the shared server, with every database flushed first."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A private, running redis-server this test may stop and start (same port)."""
    with RedisServer() as server:
        yield server
