"""Access control (API_KEY), CORS, per-client rate limits and request coalescing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from perpwatch.api.rate_limit import TokenBucketLimiter
from perpwatch.emulator import running_emulator
from perpwatch.errors import ConfigError
from perpwatch.settings import load_settings
from tests.api.conftest import API, AppFactory

KEY = "desk-secret-key-7f3a9c1e5b"
WRONG = "desk-secret-key-WRONG-00000"
AUTH = {"Authorization": f"Bearer {KEY}"}
ANALYZE = f"{API}/analyze-symbol"

# (method, path, request kwargs): what needs the key when API_KEY is set
PROTECTED: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", f"{API}/scheduler/start", {"json": {"symbols": ["BTCUSDT"]}}),
    ("POST", f"{API}/scheduler/stop", {}),
    ("POST", f"{API}/refresh", {"json": {"symbols": ["BTCUSDT"]}}),
    ("POST", ANALYZE, {"json": {"symbol": "BTCUSDT", "force_refresh": True}}),
    ("GET", "/funding_monitor/latest-rates-async", {}),
    ("GET", "/funding_monitor/latest-rates-async?cache_only=false&fast_mode=true", {}),
    ("DELETE", "/api/tasks/hama_refresh-0123456789abcdef0123456789abcdef", {}),
]
# what stays open (a 2xx, or a 4xx/503 that is not about auth)
OPEN: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", ANALYZE, {"json": {"symbol": "BTCUSDT"}}),
    ("POST", ANALYZE, {"json": {"symbol": "BTCUSDT", "force_refresh": False}}),
    ("GET", "/funding_monitor/latest-rates-async?cache_only=true", {}),
    ("GET", f"{API}/scheduler/status", {}),
    ("GET", f"{API}/cache-stats", {}),
    ("GET", f"{API}/signals", {}),
    ("GET", "/api/tasks", {}),
    ("GET", "/api/tasks/nope", {}),
    ("GET", "/funding_monitor/task-status/nope", {}),
    ("GET", "/funding_monitor/latest-rates", {}),
    ("GET", "/funding_monitor/arbitrage", {}),
    ("GET", "/health", {}),
    ("GET", "/health/ready", {}),
]


def error_message(r: httpx.Response) -> str:
    body = r.json()
    if r.request.url.path.startswith("/funding_monitor"):
        assert set(body) == {"status", "message", "timestamp"} and body["status"] == "error"
        return str(body["message"])
    assert set(body) == {"code", "msg", "data"} and body["code"] == 0 and body["data"] is None
    return str(body["msg"])


def state(client: httpx.Client) -> tuple[Any, ...]:
    stats = client.get(f"{API}/cache-stats").json()["data"]
    status = client.get(f"{API}/scheduler/status").json()["data"]
    tasks = client.get("/api/tasks").json()["data"]
    return stats["computations"], status["running"], status["symbols"], tasks["count"]


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every server-side record at DEBUG, even where logging was set not to propagate."""
    loggers = [logging.getLogger(n) for n in ("perpwatch", "uvicorn", "uvicorn.error")]
    for lg in loggers:
        lg.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="perpwatch")
    try:
        yield caplog
    finally:
        for lg in loggers:
            lg.removeHandler(caplog.handler)


def test_without_api_key_everything_is_open(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        for method, path, kwargs in PROTECTED:
            r = client.request(method, path, **kwargs)
            assert r.status_code in (200, 202, 404), (path, r.text)
        schema = client.get("/openapi.json").json()
        assert "securitySchemes" not in schema.get("components", {})
        for item in schema["paths"].values():
            for op in item.values():
                assert "security" not in op and "401" not in op["responses"]


def test_api_key_guards_state_changes_and_weight(
    app_client: AppFactory, server_logs: pytest.LogCaptureFixture
) -> None:
    with app_client(REDIS_ENABLED=False, API_KEY=KEY, LOG_LEVEL="DEBUG") as client:
        assert client.post(ANALYZE, json={"symbol": "BTCUSDT"}).status_code == 200  # warm
        before = state(client)
        for method, path, kwargs in PROTECTED:
            for headers in (
                {},
                {"Authorization": f"Bearer {WRONG}"},
                {"Authorization": f"Bearer {KEY[:-1]}"},
                {"Authorization": f"Basic {KEY}"},
                {"Authorization": "Bearer"},
                {"Authorization": KEY},
            ):
                r = client.request(method, path, headers=headers, **kwargs)
                assert r.status_code == 401, (path, headers, r.text)
                assert r.headers["www-authenticate"].startswith("Bearer")
                msg = error_message(r)
                assert "API key" in msg and KEY not in r.text and WRONG not in r.text
        assert state(client) == before  # a refused call changes nothing

        for method, path, kwargs in OPEN:
            r = client.request(method, path, **kwargs)
            assert r.status_code != 401 and r.status_code in (200, 202, 404, 503), (path, r.text)
        for method, path, kwargs in PROTECTED:
            r = client.request(method, path, headers=AUTH, **kwargs)
            assert r.status_code in (200, 202, 404), (path, r.text)  # 404: the unknown task
        # the scheme is case-insensitive, surrounding blanks are fine
        r = client.post(f"{API}/scheduler/stop", headers={"Authorization": f"bearer  {KEY}"})
        assert r.status_code == 200

        schema = client.get("/openapi.json").json()
        scheme = schema["components"]["securitySchemes"]["bearerAuth"]
        assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
        paths = schema["paths"]
        assert paths[f"{API}/scheduler/start"]["post"]["security"] == [{"bearerAuth": []}]
        assert paths["/api/tasks/{task_id}"]["delete"]["security"] == [{"bearerAuth": []}]
        assert paths[ANALYZE]["post"]["security"] == [{}, {"bearerAuth": []}]
        assert "security" not in paths[f"{API}/cache-stats"]["get"]

    # the key is never logged, not even at DEBUG; nor is a wrong one
    assert server_logs.records, "expected some server log records"
    for record in server_logs.records:
        assert KEY not in record.getMessage() and WRONG not in record.getMessage()
        assert KEY not in str(record.args)
    settings = load_settings(MARKET="sim", API_KEY=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings.api_key)
    assert KEY not in str(settings.model_dump())


def test_a_delete_that_needs_the_key_cancels_with_it(app_client: AppFactory) -> None:
    with (
        running_emulator(latency_ms=1000) as url,
        app_client(
            REDIS_ENABLED=False, API_KEY=KEY, FUNDING_EXCHANGES="binanceusdm", EXCHANGE_API_URL=url
        ) as client,
    ):
        task_id = client.get("/funding_monitor/latest-rates-async", headers=AUTH).json()["task_id"]
        assert client.delete(f"/api/tasks/{task_id}").status_code == 401
        assert client.get(f"/api/tasks/{task_id}").json()["data"]["status"] in ("queued", "running")
        r = client.delete(f"/api/tasks/{task_id}", headers=AUTH)
        assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"
        again = client.delete(f"/api/tasks/{task_id}", headers=AUTH)  # idempotent
        assert again.status_code == 200 and again.json()["msg"] == "already cancelled"


def test_api_key_setting_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"API_KEY: .*at least 16 characters"):
        load_settings(MARKET="sim", API_KEY="short")
    assert load_settings(MARKET="sim", API_KEY="   ").api_key is None  # blank: off


def test_cors_is_off_by_default(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        preflight = client.options(
            ANALYZE,
            headers={
                "Origin": "https://desk.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code == 405
        r = client.get(f"{API}/cache-stats", headers={"Origin": "https://desk.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_origins_enable_exactly_those_origins(app_client: AppFactory) -> None:
    origins = "https://desk.example, http://localhost:3000/"
    with app_client(REDIS_ENABLED=False, CORS_ORIGINS=origins) as client:
        for origin in ("https://desk.example", "http://localhost:3000"):
            preflight = client.options(
                ANALYZE,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == origin
            allowed = preflight.headers["access-control-allow-headers"].lower()
            assert "authorization" in allowed and "content-type" in allowed
            r = client.get(f"{API}/cache-stats", headers={"Origin": origin})
            assert r.headers["access-control-allow-origin"] == origin
        evil = client.options(
            ANALYZE,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers
        r = client.get(f"{API}/cache-stats", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in r.headers
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_settings(MARKET="sim", CORS_ORIGINS="*")
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_settings(MARKET="sim", CORS_ORIGINS="desk.example")


def test_forced_refreshes_are_rate_limited_per_client_and_recover(app_client: AppFactory) -> None:
    # 30/min = one token every 2 s, burst 3
    with app_client(
        REDIS_ENABLED=False, API_KEY=KEY, SUBMIT_RATE_PER_MIN=30, SUBMIT_BURST=3
    ) as client:
        forced = {"symbol": "BTCUSDT", "force_refresh": True}
        for _ in range(3):
            assert client.post(ANALYZE, json=forced, headers=AUTH).status_code == 200
        computations = client.get(f"{API}/cache-stats").json()["data"]["computations"]
        limited = client.post(ANALYZE, json=forced, headers=AUTH)
        assert limited.status_code == 429
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 2
        assert "retry in" in error_message(limited)
        # refused: nothing was computed; cached reads stay open to the same client
        assert client.get(f"{API}/cache-stats").json()["data"]["computations"] == computations
        hit = client.post(ANALYZE, json={"symbol": "BTCUSDT"}, headers=AUTH)
        assert hit.status_code == 200 and hit.json()["data"]["cached"] is True
        # the key holder and an anonymous caller have separate buckets: the anonymous
        # caller's cache misses are charged to its own IP bucket
        for symbol in ("ETHUSDT", "SOLUSDT", "XRPUSDT"):
            assert client.post(ANALYZE, json={"symbol": symbol}).status_code == 200
        miss = client.post(ANALYZE, json={"symbol": "DOGEUSDT"})
        assert miss.status_code == 429 and int(miss.headers["retry-after"]) >= 1
        assert client.post(ANALYZE, json={"symbol": "ETHUSDT"}).status_code == 200  # a hit
        time.sleep(retry_after + 0.1)
        assert client.post(ANALYZE, json=forced, headers=AUTH).status_code == 200  # recovered


def test_task_submissions_are_rate_limited(app_client: AppFactory) -> None:
    with app_client(
        REDIS_ENABLED=False, API_KEY=KEY, SUBMIT_RATE_PER_MIN=1, SUBMIT_BURST=2
    ) as client:
        refresh = f"{API}/refresh"
        for symbol in ("BTCUSDT", "ETHUSDT"):
            r = client.post(refresh, json={"symbols": [symbol]}, headers=AUTH)
            assert r.status_code == 202, r.text
        tasks = client.get("/api/tasks").json()["data"]["count"]
        r = client.post(refresh, json={"symbols": ["SOLUSDT"]}, headers=AUTH)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 30
        r = client.get("/funding_monitor/latest-rates-async", headers=AUTH)
        assert r.status_code == 429 and "retry-after" in r.headers
        assert error_message(r).startswith("too many costly requests")
        assert client.get("/api/tasks").json()["data"]["count"] == tasks  # nothing queued
        # a rejected submission gives its token back
        with app_client(
            REDIS_ENABLED=False, API_KEY=KEY, SUBMIT_RATE_PER_MIN=1, SUBMIT_BURST=1
        ) as other:
            bad = other.post(refresh, json={"symbols": ["bad symbol"]}, headers=AUTH)
            assert bad.status_code == 400
            ok = other.post(refresh, json={"symbols": ["BTCUSDT"]}, headers=AUTH)
            assert ok.status_code == 202


def test_concurrent_identical_forced_refreshes_share_one_computation(
    app_client: AppFactory,
) -> None:
    n = 12
    with (
        running_emulator(latency_ms=300) as url,
        app_client(
            REDIS_ENABLED=False,
            MARKET="binanceusdm",
            EXCHANGE_API_URL=url,
            API_KEY=KEY,
            SUBMIT_BURST=100,
        ) as client,
    ):
        before = client.get(f"{API}/cache-stats").json()["data"]["computations"]
        forced = {"symbol": "BTCUSDT", "force_refresh": True}
        base = str(client.base_url)

        def call(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, timeout=30) as c:
                return c.post(ANALYZE, json=forced, headers=AUTH)

        with ThreadPoolExecutor(n) as pool:
            responses = list(pool.map(call, range(n)))
        assert [r.status_code for r in responses] == [200] * n
        stamps = {r.json()["data"]["timestamp_ms"] for r in responses}
        assert len(stamps) == 1  # one document for all
        after = client.get(f"{API}/cache-stats").json()["data"]["computations"]
        assert after == before + 1


def test_token_bucket() -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(rate_per_min=60, burst=2, max_clients=3, clock=lambda: now[0])
    assert limiter.take("a") is None and limiter.take("a") is None
    assert limiter.take("a") == 1  # empty: one token a second
    now[0] = 0.5
    assert limiter.take("a") == 1
    now[0] = 1.0
    assert limiter.take("a") is None
    limiter.refund("a")
    assert limiter.take("a") is None
    for _ in range(5):  # work already done is charged, into debt at most one burst deep
        limiter.charge("a")
    assert limiter.retry_after("a") == 3
    now[0] = 100.0
    assert limiter.retry_after("a") is None  # refilled, capped at the burst
    assert limiter.take("a") is None and limiter.take("a") is None and limiter.take("a") == 1
    for client in ("b", "c", "d", "e"):  # bounded: least recently used go first
        limiter.take(client)
    assert len(limiter) == 3
    assert limiter.take("a") is None  # "a" was forgotten: a fresh bucket
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_min=0, burst=1, max_clients=1)
