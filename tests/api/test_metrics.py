"""``GET /metrics`` of a real app on a real Redis: every metric of the issue is there
with its type, and the counters move exactly as requests, refreshes and an outage make
them. The metrics written where they happen are per process, so in this (one) test
process they are compared before and after, never as absolute numbers."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.api.conftest import API, AppFactory
from tests.support.prom import REQUIRED, Scrape, scrape
from tests.support.redis_server import RedisServer

ANALYZE = f"{API}/analyze-symbol"
ROUTE_SERIES = f"{API}/series/{{symbol}}"


def analyze(client: httpx.Client, symbol: str, **extra: Any) -> dict[str, Any]:
    r = client.post(ANALYZE, json={"symbol": symbol, **extra})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_task(client: httpx.Client, task_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        data: dict[str, Any] = client.get(f"/api/tasks/{task_id}").json()["data"]
        if data["status"] in ("completed", "failed", "cancelled"):
            return data
        assert time.monotonic() < deadline, f"task {task_id} still {data['status']}"
        time.sleep(0.05)


def test_every_metric_is_exported_with_its_type(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url, SYMBOLS="BTCUSDT,ETHUSDT") as client:
        analyze(client, "BTCUSDT")
        time.sleep(0.6)  # one event-loop lag sample
        m = scrape(client)
        missing = {n: t for n, t in REQUIRED.items() if m.types.get(n) != t}
        assert not missing, f"absent or of another type: {missing}"
        assert m.value("perpwatch_build_info", version="0.1.0") == 1
        assert m.value("perpwatch_cache_redis_up") == 1
        assert m.value("perpwatch_signals_watched") == 2
        assert m.value("perpwatch_signals_missing") == 1  # ETHUSDT: never analysed
        age = m.value("perpwatch_signal_age_seconds")
        assert 0 <= age < 30
        assert m.value("perpwatch_refresh_interval_seconds") > 0
        assert m.value("perpwatch_push_clients") == 0
        assert m.value("perpwatch_task_queue_depth") == 0
        assert m.has("perpwatch_event_loop_lag_seconds", role="serve")
        # no label anywhere names a symbol
        assert not [s for s in m.samples if "BTCUSDT" in str(s.labels)]


def test_signal_age_is_absent_while_nothing_is_cached(
    app_client: AppFactory, redis_url: str
) -> None:
    with app_client(REDIS_URL=redis_url, SYMBOLS="BTCUSDT") as client:
        m = scrape(client)
        assert not m.has("perpwatch_signal_age_seconds")  # not a made-up 0
        assert m.value("perpwatch_signals_missing") == 1


def test_a_miss_then_a_hit_and_the_http_counters(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        before = scrape(client)
        analyze(client, "ETHUSDT")  # a miss: computed here
        after_miss = scrape(client)
        hit = analyze(client, "ETHUSDT")  # a hit, answered by the fast path
        assert hit["msg"] == "success (cached from redis)"
        after_hit = scrape(client)

        def moved(a: Scrape, b: Scrape, name: str, **labels: str) -> float:
            return b.value(name, **labels) - a.value(name, **labels)

        assert moved(before, after_miss, "perpwatch_cache_misses_total", source="redis") == 1
        assert moved(before, after_miss, "perpwatch_cache_hits_total") == 0
        assert moved(after_miss, after_hit, "perpwatch_cache_hits_total", source="redis") == 1
        assert moved(after_miss, after_hit, "perpwatch_cache_misses_total") == 0
        labels = {"route": ANALYZE, "method": "POST", "status": "2xx"}
        assert moved(before, after_miss, "perpwatch_http_requests_total", **labels) == 1
        assert moved(after_miss, after_hit, "perpwatch_http_requests_total", **labels) == 1
        count = "perpwatch_http_request_duration_seconds_count"
        assert moved(after_miss, after_hit, count, route=ANALYZE) == 1
        inf = after_hit.value("perpwatch_http_request_duration_seconds_bucket", route=ANALYZE,
                              le="+Inf")  # fmt: skip
        assert inf == after_hit.value(count, route=ANALYZE)
        # each scrape counts itself once it has answered
        assert moved(before, after_miss, "perpwatch_http_requests_total", route="/metrics") == 1

        # route templates, never raw paths; unknown paths and methods under "other"
        assert client.get(f"{API}/series/ETHUSDT").status_code == 200
        assert client.get("/no/such/path/BTCUSDT").status_code == 404
        assert client.request("PATCH", "/health").status_code == 405
        m = scrape(client)
        assert m.value("perpwatch_http_requests_total", route=ROUTE_SERIES, status="2xx") == 1
        assert m.value("perpwatch_http_requests_total", route="other", status="4xx") == 1
        assert m.value("perpwatch_http_requests_total", route="/health", method="PATCH",
                       status="4xx") == 1  # fmt: skip
        assert not [s for s in m.samples if "ETHUSDT" in str(s.labels)]


def test_a_refresh_moves_the_refresh_and_task_metrics(
    app_client: AppFactory, redis_url: str
) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        before = scrape(client)
        r = client.post(f"{API}/refresh", json={"symbols": ["BTCUSDT", "ETHUSDT"]})
        assert r.status_code == 202, r.text
        done = wait_task(client, r.json()["data"]["task_id"])
        assert done["status"] == "completed", done
        after = scrape(client)

        def moved(name: str, **labels: str) -> float:
            return after.value(name, **labels) - before.value(name, **labels)

        assert moved("perpwatch_refresh_symbols_total", outcome="ok") == 2
        assert moved("perpwatch_refresh_symbols_total", outcome="failed") == 0
        assert moved("perpwatch_refresh_duration_seconds_count", timeframe="15m") == 1
        assert moved("perpwatch_refresh_duration_seconds_sum", timeframe="15m") > 0
        assert moved("perpwatch_tasks_total", operation="hama.refresh", state="completed") == 1


def test_a_redis_outage_and_the_recovery(
    app_client: AppFactory, fresh_redis_server: RedisServer
) -> None:
    with app_client(
        REDIS_URL=fresh_redis_server.url, REDIS_PROBE_INTERVAL=0.2, NEAR_CACHE_SECONDS=0
    ) as client:
        analyze(client, "BTCUSDT")
        up = scrape(client)
        assert up.value("perpwatch_cache_redis_up") == 1
        assert up.value("perpwatch_cache_redis_errors_total") == 0
        assert up.value("perpwatch_cache_redis_outages_total") == 0

        fresh_redis_server.stop()
        during = analyze(client, "BTCUSDT")
        assert during["msg"] == "success (cached from memory)"
        down = scrape(client)
        assert down.value("perpwatch_cache_redis_up") == 0
        assert down.value("perpwatch_cache_redis_errors_total") >= 1
        assert down.value("perpwatch_cache_redis_outages_total") == 1
        memory_hits = down.value("perpwatch_cache_hits_total", source="memory")
        assert memory_hits - up.value("perpwatch_cache_hits_total", source="memory") == 1
        # the scrape itself still answers while Redis is down, and only from memory
        assert down.value("perpwatch_signal_age_seconds") >= 0

        fresh_redis_server.start()
        deadline = time.monotonic() + 5
        while scrape(client).value("perpwatch_cache_redis_up") != 1:
            assert time.monotonic() < deadline, "redis_up did not return to 1 within 5 s"
            time.sleep(0.1)
        back = scrape(client)
        assert back.value("perpwatch_cache_redis_outages_total") == 1
        assert back.value("perpwatch_cache_redis_errors_total") >= 1  # counters never go back


def test_hostile_requests_to_metrics(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        for params in ({"x": "1"}, {"name[]": "perpwatch_cache_hits_total"},
                       {"x": "\x00\x1b[31m" + "A" * 5000}, {"format": "openmetrics"}):  # fmt: skip
            r = client.get("/metrics", params=params)
            assert r.status_code == 200, (params, r.text)
            assert "# TYPE perpwatch_build_info gauge" in r.text
        for method in ("POST", "PUT", "DELETE"):
            r = client.request(method, "/metrics", content=b"{}")
            assert r.status_code == 405, (method, r.text)
            assert "GET" in r.headers["allow"]
        r = client.get("/metrics", headers={"accept": "application/openmetrics-text"})
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert client.get("/metrics/").status_code in (307, 404)
        # Redis disabled: nothing about it is made up
        m = scrape(client)
        assert not m.has("perpwatch_cache_redis_up")
        assert not m.has("perpwatch_cache_redis_errors_total")
        # and /metrics is in the OpenAPI document, as an open read
        op = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
        assert "text/plain" in op["responses"]["200"]["content"]
        assert "security" not in op
