"""Fixtures for API tests: the real app under uvicorn, on the simulated market.

**Cluster mode** (``--redis-mode=cluster`` or ``PERPWATCH_TEST_REDIS=cluster``; ``make
pytest`` runs it after the normal pass): ``redis_url`` names a node of the session's real
3-master Redis Cluster (healed and flushed before each test), an app started with that URL
gets ``REDIS_CLUSTER=true``, and so does every process the test starts (through its
environment). Tests that stop a private server (``fresh_redis_server``) or proxy the
shared one (``redis_server``) keep a single server. ``redis_sync`` opens a sync client of
``redis_url`` that follows the cluster's slots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeAlias

import httpx
import pytest
import redis
import redis.cluster

from perpwatch.api.app import create_app
from perpwatch.settings import Settings, load_settings
from tests.conftest import redis_mode
from tests.support.http_server import serve_app
from tests.support.redis_cluster import HOST, RedisCluster

API = "/api/gainer-analysis"

SyncRedis: TypeAlias = "redis.Redis | redis.cluster.RedisCluster"


def sim_settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "MARKET": "sim",
        "HAMA_SCHEDULER_AUTO_START": False,
        "SYMBOLS_LIMIT": 20,
        "LOG_LEVEL": "WARNING",
    }
    base.update(overrides)
    return load_settings(**base)


AppFactory = Callable[..., AbstractContextManager[httpx.Client]]


def cluster_node_urls(cluster: RedisCluster) -> frozenset[str]:
    """Every URL by which the tests name a node of ``cluster`` (the roles change; the
    ports do not)."""
    return frozenset(f"redis://{HOST}:{port}/0" for port in cluster.ports)


@pytest.fixture
def on_cluster(request: pytest.FixtureRequest) -> frozenset[str]:
    """The URLs that mean "the Redis Cluster": none unless in cluster mode."""
    if redis_mode(request.config) != "cluster":
        return frozenset()
    cluster: RedisCluster = request.getfixturevalue("redis_cluster")
    return cluster_node_urls(cluster)


@pytest.fixture
def redis_url(
    redis_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The shared Redis of this test, flushed: one server, or in cluster mode a node of
    the Redis Cluster (with ``REDIS_CLUSTER=true`` in the environment for subprocesses)."""
    if redis_mode(request.config) != "cluster":
        return redis_url
    monkeypatch.setenv("REDIS_CLUSTER", "true")
    return str(request.getfixturevalue("cluster_url"))


def open_sync_redis(url: str, cluster_urls: frozenset[str], **kwargs: Any) -> SyncRedis:
    if url in cluster_urls:
        return redis.cluster.RedisCluster.from_url(url, **kwargs)
    return redis.Redis.from_url(url, **kwargs)


@pytest.fixture
def redis_sync(redis_url: str, on_cluster: frozenset[str]) -> Iterator[Callable[..., SyncRedis]]:
    """``redis_sync(decode_responses=True)``: a sync client of ``redis_url`` to inspect what
    the app stored (a ``RedisCluster`` in cluster mode: GET/SCAN follow the slots); closed
    after the test."""
    opened: list[SyncRedis] = []

    def open_client(**kwargs: Any) -> SyncRedis:
        client = open_sync_redis(redis_url, on_cluster, **kwargs)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture(autouse=True)
def _cluster_aware_from_url(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cluster mode only: ``redis.Redis.from_url(<a cluster node>)`` opens a cluster client.

    Some tests of this folder inspect Redis with ``redis.Redis.from_url(redis_url)``
    directly; on a cluster that client would answer MOVED for two slots in three. Until
    they use ``redis_sync``, this keeps them honest on both.
    """
    if redis_mode(request.config) != "cluster" or "redis_url" not in request.fixturenames:
        return
    cluster_urls: frozenset[str] = request.getfixturevalue("on_cluster")
    plain = redis.Redis.from_url

    def from_url(url: str, **kwargs: Any) -> SyncRedis:
        if url in cluster_urls:
            return redis.cluster.RedisCluster.from_url(url, **kwargs)
        return plain(url, **kwargs)

    monkeypatch.setattr(redis.Redis, "from_url", staticmethod(from_url))


@pytest.fixture
def app_client(on_cluster: frozenset[str]) -> AppFactory:
    """``with app_client(REDIS_URL=...) as client:`` -- a running app and an HTTP client for it.

    ``REDIS_CLUSTER`` follows ``REDIS_URL`` unless given: true for a node of the test
    cluster (cluster mode), false otherwise."""

    @contextmanager
    def start(**overrides: object) -> Iterator[httpx.Client]:
        overrides.setdefault("REDIS_CLUSTER", overrides.get("REDIS_URL") in on_cluster)
        app = create_app(sim_settings(**overrides))
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client

    return start
