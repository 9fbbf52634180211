"""Stop the Redis server under a running app: it keeps answering from memory, then goes
back to Redis by itself when the server returns."""

from __future__ import annotations

import time

from tests.api.conftest import API, AppFactory
from tests.support.redis_server import RedisServer


def _cache_type(client: object) -> str:
    return client.get(f"{API}/cache-stats").json()["data"]["cache_type"]  # type: ignore[attr-defined, no-any-return]


def test_redis_down_then_back(app_client: AppFactory, fresh_redis_server: RedisServer) -> None:
    # no near cache: the first request after Redis stops is the one that must notice
    with app_client(
        REDIS_URL=fresh_redis_server.url, REDIS_PROBE_INTERVAL=0.2, NEAR_CACHE_SECONDS=0
    ) as client:
        client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
        hit = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()
        assert hit["msg"] == "success (cached from redis)"

        fresh_redis_server.stop()
        t0 = time.monotonic()
        during = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
        assert during.status_code == 200
        assert during.json()["msg"] == "success (cached from memory)"
        assert time.monotonic() - t0 < 2.0
        # a symbol never seen before is computed and cached in memory meanwhile
        eth = client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"})
        assert eth.status_code == 200
        stats = client.get(f"{API}/cache-stats").json()["data"]
        assert stats["cache_type"] == "memory" and stats["redis_errors"] >= 1
        health = client.get("/health").json()["data"]
        assert health["redis"]["state"] == "down" and health["status"] == "degraded"

        fresh_redis_server.start()
        deadline = time.monotonic() + 5
        while _cache_type(client) != "redis":
            assert time.monotonic() < deadline, "did not return to Redis within 5 s"
            time.sleep(0.1)
        back = client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"}).json()
        # written during the outage, written back to Redis on recovery
        assert back["msg"] == "success (cached from redis)"


def test_near_cache_hides_an_outage_for_at_most_its_time(
    app_client: AppFactory, fresh_redis_server: RedisServer
) -> None:
    """With the near cache (1 s), a hit read from Redis may be served again for 1 s after
    Redis dies, with its exact age; the first request after that notices the outage."""
    with app_client(
        REDIS_URL=fresh_redis_server.url, REDIS_PROBE_INTERVAL=0.2, NEAR_CACHE_SECONDS=1
    ) as client:
        client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
        first = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()
        assert first["msg"] == "success (cached from redis)"
        read_at = time.monotonic()
        fresh_redis_server.stop()
        sources = []
        while time.monotonic() - read_at < 1.6:
            r = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
            assert r.status_code == 200
            sources.append((time.monotonic() - read_at, r.json()["msg"]))
            time.sleep(0.05)
        assert all(msg == "success (cached from memory)" for at, msg in sources if at > 1.05)
        assert any(msg.endswith("(cached from memory)") for _, msg in sources)
        assert all(msg == "success (cached from redis)" for at, msg in sources if at < 0.9), (
            "a hit read from Redis under 1 s ago is served from the near cache"
        )


def test_slow_redis_keeps_requests_bounded(
    app_client: AppFactory, redis_server: RedisServer
) -> None:
    from tests.support.tcp_proxy import DelayProxy

    with (
        DelayProxy(redis_server.port, delay_s=1.5).running() as proxy,
        app_client(
            REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0", REDIS_PROBE_INTERVAL=0.5
        ) as client,
    ):
        client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            r = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
            worst = max(worst, time.monotonic() - t0)
            assert r.status_code == 200
        assert worst < 1.0  # never the 1.5 s Redis takes: the 0.25 s timeout, then memory
        assert _cache_type(client) == "memory"
