"""Kill a Redis Cluster master under HTTP load: perpwatch answers every request (no 5xx),
from memory while the master's slots have none, and goes back to the cluster by itself
once its replica is promoted.

The app runs under a real uvicorn server with ``REDIS_CLUSTER=true`` on the test cluster
(3 masters, a replica each), with the SAQ task backend and coordination on the cluster too.
A thread keeps asking for cached analyses (``analyze-symbol``) and ``scheduler/status``
while the master that holds ``hama:analysis:BTCUSDT`` -- also the node ``REDIS_URL``
names -- is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

from tests.api.conftest import API, AppFactory
from tests.support.redis_cluster import RedisCluster
from tests.tasks.conftest import SAQ_WARNINGS

pytestmark = SAQ_WARNINGS

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT", "ADAUSDT"]
PROBE_S = 0.2
TO_MEMORY_WITHIN_S = 2.0  # from the kill
BACK_WITHIN_S = 3.0  # from the promotion seen by the test


@dataclass
class Load:
    """Requests sent by :func:`hammer`: (monotonic time, path, HTTP status, message)."""

    answers: list[tuple[float, str, int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def since(self, t: float) -> list[tuple[float, str, int, str]]:
        return [a for a in self.answers if a[0] >= t]


def hammer(base_url: str, load: Load) -> None:
    """Until ``load.stop``: a cached analysis, then ``scheduler/status``, over and over.
    A transport error is recorded as status 0 (and fails the test), not raised."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        i = 0
        while not load.stop.is_set():
            symbol = SYMBOLS[i % len(SYMBOLS)]
            i += 1
            for name, method, path, body in (
                ("analyze-symbol", "POST", f"{API}/analyze-symbol", {"symbol": symbol}),
                ("scheduler/status", "GET", f"{API}/scheduler/status", None),
            ):
                try:
                    r = client.request(method, path, json=body)
                except httpx.HTTPError as e:
                    load.answers.append((time.monotonic(), name, 0, repr(e)))
                    continue
                json_body = r.headers.get("content-type", "").startswith("application/json")
                msg = str(r.json().get("msg", "")) if json_body else r.text[:200]
                load.answers.append((time.monotonic(), name, r.status_code, msg))


def cache_type(client: httpx.Client) -> str:
    r = client.get(f"{API}/cache-stats")
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["cache_type"])


def wait_cache_type(client: httpx.Client, want: str, since: float, within_s: float) -> float:
    """Poll ``cache-stats`` until its ``cache_type`` is ``want``; seconds since ``since``."""
    while cache_type(client) != want:
        assert time.monotonic() - since < within_s, f"cache_type not {want} within {within_s}s"
        time.sleep(0.05)
    return time.monotonic() - since


def replicate(url: str) -> None:
    """Every write so far has reached each master's replica."""

    async def wait_all() -> None:
        client = AsyncRedisCluster.from_url(url)
        try:
            await client.initialize()
            for node in client.get_primaries():
                assert await client.execute_command("WAIT", 1, 2000, target_nodes=node) == 1
        finally:
            await client.aclose()

    asyncio.run(wait_all())


def test_killing_a_master_gives_no_5xx_and_a_return_to_the_cluster(
    app_client: AppFactory, cluster_url: str, redis_cluster: RedisCluster
) -> None:
    victim = redis_cluster.port_for_key("hama:analysis:BTCUSDT")
    on_victim = [s for s in SYMBOLS if redis_cluster.port_for_key(f"hama:analysis:{s}") == victim]
    assert len({redis_cluster.port_for_key(f"hama:analysis:{s}") for s in SYMBOLS}) == 3
    # the node REDIS_URL names dies too: the app's clients must know the others already
    assert cluster_url == f"redis://127.0.0.1:{victim}/0"
    with app_client(
        REDIS_URL=cluster_url,
        REDIS_CLUSTER=True,
        REDIS_PROBE_INTERVAL=PROBE_S,
        TASK_BACKEND="saq",
    ) as client:
        for symbol in SYMBOLS:  # cached in Redis (and in the memory mirror)
            r = client.post(f"{API}/analyze-symbol", json={"symbol": symbol})
            assert r.status_code == 200, r.text
        hit = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()
        assert hit["msg"] == "success (cached from redis)"
        assert cache_type(client) == "redis"
        replicate(cluster_url)

        load = Load()
        thread = threading.Thread(target=hammer, args=(str(client.base_url), load), daemon=True)
        thread.start()
        try:
            time.sleep(0.3)
            killed_at = time.monotonic()
            redis_cluster.kill_master(victim)
            to_memory_s = wait_cache_type(client, "memory", killed_at, TO_MEMORY_WITHIN_S)
            redis_cluster.wait_failover(timeout_s=10)
            promoted_at = time.monotonic()
            wait_cache_type(client, "redis", promoted_at, BACK_WITHIN_S)
            back_at = time.monotonic()
            time.sleep(0.5)  # the load goes on, on the cluster again
        finally:
            load.stop.set()
            thread.join(timeout=15)
        assert not thread.is_alive()

        errors = [a for a in load.answers if a[2] >= 500 or a[2] == 0]
        assert errors == [], errors[:5]
        outage = [a for a in load.answers if killed_at <= a[0] <= promoted_at]
        assert len(outage) >= 20, f"only {len(outage)} requests during the outage"
        assert all(a[2] == 200 for a in load.answers), {a[2] for a in load.answers}
        from_memory = [a for a in outage if a[3] == "success (cached from memory)"]
        assert from_memory, "no cache hit was answered from memory during the outage"
        after = [a for a in load.since(back_at) if a[1] == "analyze-symbol"]
        assert after and all(a[3] == "success (cached from redis)" for a in after[-4:])

        # the promoted replica kept the analyses; perpwatch writes and reads there again
        stats = client.get(f"{API}/cache-stats").json()["data"]
        assert stats["cache_type"] == "redis" and stats["redis_outages"] == 1
        assert stats["cached_symbols"] == len(SYMBOLS)
        for symbol in on_victim:
            again = client.post(f"{API}/analyze-symbol", json={"symbol": symbol}).json()
            assert again["msg"] == "success (cached from redis)"
        status = client.get(f"{API}/scheduler/status")
        assert status.status_code == 200
        # and the task queue: a task goes through SAQ on the cluster, not in-process
        task_id = client.get("/funding_monitor/latest-rates-async").json()["task_id"]
        assert not task_id.startswith("local-")
        deadline = time.monotonic() + 15
        while (task := client.get(f"/api/tasks/{task_id}").json()["data"])["status"] != "completed":
            assert task["status"] in ("queued", "running"), task
            assert time.monotonic() < deadline, task
            time.sleep(0.05)
        assert task["backend"] == "saq"
        promoted_s = redis_cluster.last_failover_s or 0.0
        print(
            f"{len(load.answers)} requests, {len(outage)} during the outage, no 5xx; "
            f"memory {to_memory_s:.2f} s, promoted {promoted_s:.2f} s, "
            f"back on the cluster {back_at - killed_at:.2f} s after the kill"
        )
