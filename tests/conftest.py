"""Shared fixtures. Keep this file small and generic: other areas will add their own
fixtures here (or in a conftest.py of their test folder) later.

``--redis-mode=cluster`` (or ``PERPWATCH_TEST_REDIS=cluster``) runs the API suite against
a real Redis Cluster instead of one server; see ``tests/api/conftest.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.support.cluster_fixtures import cluster_url, redis_cluster
from tests.support.redis_server import RedisServer

__all__ = ["cluster_url", "redis_cluster"]  # fixtures for every test folder

REDIS_MODE_ENV = "PERPWATCH_TEST_REDIS"
REDIS_MODES = ("single", "cluster")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-mode",
        choices=REDIS_MODES,
        default=os.environ.get(REDIS_MODE_ENV) or "single",
        help=f"the Redis the API suite runs on (default: ${REDIS_MODE_ENV} or single)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "shared_redis: the test uses the shared Redis (``redis_url``); set on such tests "
        "by itself, so ``-m shared_redis`` runs just the tests that cluster mode changes",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "redis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_redis)


def redis_mode(config: pytest.Config) -> str:
    mode = str(config.getoption("--redis-mode"))
    if mode not in REDIS_MODES:  # the env default bypasses argparse's choices
        raise pytest.UsageError(f"{REDIS_MODE_ENV} must be one of {REDIS_MODES}, not {mode!r}")
    return mode


def pytest_report_header(config: pytest.Config) -> str:
    return f"redis mode: {redis_mode(config)}"


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
