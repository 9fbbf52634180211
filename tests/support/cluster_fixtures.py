"""Pytest fixtures for a real Redis Cluster (see :mod:`tests.support.redis_cluster`).

``tests/conftest.py`` imports both, so every test folder has them. The session's cluster
starts only when a test first asks for one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_cluster import RedisCluster


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """One 3-master/3-replica cluster for the whole run (about 2 s to start).

    A test may kill and restart nodes; ``cluster_url`` heals the cluster before the next
    test. Do not ``stop()`` it."""
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: RedisCluster) -> str:
    """URL of a master of the shared cluster: killed nodes restarted, each master with its
    replica attached, and every master flushed first."""
    redis_cluster.heal()
    redis_cluster.flushall()
    return redis_cluster.url
