"""Scheduler control, cache statistics and health through the HTTP API."""

from __future__ import annotations

import time

import httpx

from tests.api.conftest import API, AppFactory


def _wait_for(client: httpx.Client, pred: object, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"{API}/scheduler/status").json()["data"]
        if pred(status):  # type: ignore[operator]
            return status  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_status_when_stopped(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        body = client.get(f"{API}/scheduler/status").json()
        assert body["code"] == 1
        s = body["data"]
        assert s["running"] is False
        assert s["next_run"] is None
        assert s["interval_minutes"] == 5
        assert s["cache_stats"] == {
            "available": True,
            "cached_symbols": 0,
            "cache_ttl_seconds": 300,
        }


def test_status_when_disabled(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False, HAMA_SCHEDULER_ENABLED=False) as client:
        s = client.get(f"{API}/scheduler/status").json()["data"]
        assert s["running"] is False and s["enabled"] is False
        r = client.post(f"{API}/scheduler/start", json={})
        assert r.status_code == 400 and "disabled" in r.json()["msg"]


def test_auto_start_refreshes_in_background(app_client: AppFactory, redis_url: str) -> None:
    with app_client(
        REDIS_URL=redis_url, HAMA_SCHEDULER_AUTO_START=True, SYMBOLS_LIMIT=12
    ) as client:
        # the server answers at once, before the first refresh is done
        first = client.get(f"{API}/scheduler/status").json()["data"]
        assert first["running"] is True
        s = _wait_for(client, lambda s: s["last_run"] is not None)
        assert s["symbols_count"] == 12
        assert s["last_run"]["ok"] == 12 and s["last_run"]["failed"] == 0
        assert s["last_run"]["duration_s"] >= 0
        assert s["next_run"] is not None
        assert s["cache_stats"]["cached_symbols"] == 12
        stats = client.get(f"{API}/cache-stats").json()["data"]
        assert stats["cache_type"] == "redis" and stats["cached_symbols"] == 12
        assert len(stats["symbols"]) == 12
        health = client.get("/health").json()["data"]
        assert health["ready"] is True and health["redis"]["state"] == "up"
        assert client.get("/health/ready").status_code == 200
        sig = client.get(f"{API}/signals").json()["data"]
        assert sig["count"] == 12 and sig["missing"] == []


def test_start_stop_restart_and_change_symbols(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        for _ in range(3):
            r = client.post(
                f"{API}/scheduler/start",
                json={"symbols": ["btcusdt", "ETH/USDT:USDT"], "interval_minutes": 2},
            )
            assert r.status_code == 200, r.text
            s = r.json()["data"]
            assert s["running"] is True and s["symbols"] == ["BTCUSDT", "ETHUSDT"]
            assert s["interval_minutes"] == 2
            stopped = client.post(f"{API}/scheduler/stop").json()["data"]
            assert stopped["running"] is False
        client.post(f"{API}/scheduler/start", json={"symbols": ["SOLUSDT"]})
        s = _wait_for(client, lambda s: s["last_run"] is not None and s["last_run"]["total"] == 1)
        assert s["symbols"] == ["SOLUSDT"]
        assert s["last_run"]["ok"] == 1
        cached = client.get(f"{API}/cache-stats").json()["data"]["symbols"]
        assert "SOLUSDT" in cached


def test_start_validation(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        for body, status in [
            ({"interval_minutes": 0}, 422),
            ({"interval_minutes": 1441}, 422),
            ({"interval_minutes": "five"}, 422),
            ({"symbols": []}, 400),
            ({"symbols": ["NOPEUSDT"]}, 404),
            ({"symbols": ["BTC USDT"]}, 400),
            ({"symbols": "BTCUSDT"}, 422),
        ]:
            r = client.post(f"{API}/scheduler/start", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["code"] == 0
        assert client.get(f"{API}/scheduler/status").json()["data"]["running"] is False
