"""The exchange goes away entirely: the service stays up and says so, and catches up by
itself when the exchange returns. The real app under uvicorn, the real ccxt client, the
emulator's ``down`` switch, a one-second schedule."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from perpwatch.api.app import create_app
from perpwatch.emulator import running_emulator
from perpwatch.settings import load_settings
from tests.support.http_server import serve_app

API = "/api/gainer-analysis"


def _settings(url: str, **extra: object) -> Any:
    base: dict[str, object] = {
        "MARKET": "binanceusdm",
        "EXCHANGE_API_URL": url,
        "REDIS_ENABLED": False,
        "HAMA_SCHEDULER_INTERVAL": 1 / 60,  # a run every second
        "HAMA_CACHE_TTL": 120,
        "EXCHANGE_TIMEOUT": 1,
        "EXCHANGE_RETRIES": 1,
        "EXCHANGE_BREAKER_FAILURES": 6,
        "EXCHANGE_BREAKER_PROBE": 0.5,
        "FUNDING_CHECK_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }
    return load_settings(**{**base, **extra})


def _wait_for(
    client: httpx.Client, check: Callable[[dict[str, Any], dict[str, Any]], bool], timeout: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Poll /health and the scheduler status until ``check(health, status)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        health = client.get("/health").json()["data"]
        status = client.get(f"{API}/scheduler/status").json()["data"]
        if check(health, status):
            return health, status
        assert time.monotonic() < deadline, (health, status)
        time.sleep(0.1)


def test_exchange_down_then_back() -> None:
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    with running_emulator() as url, httpx.Client(base_url=url) as emu:
        app = create_app(_settings(url, SYMBOLS=",".join(symbols)))
        with serve_app(app) as api_url, httpx.Client(base_url=api_url, timeout=10) as client:
            _wait_for(client, lambda h, s: h["ready"] and h["exchange"]["ok"], 20)

            emu.post("/_emulator/config", json={"down": True})  # a 503 page for everything
            # both readings from after the same runs: health is fetched before the status
            health, status = _wait_for(
                client,
                lambda h, s: (
                    s["consecutive_failed_runs"] >= 2
                    and h["exchange"]["consecutive_failed_runs"] >= 2
                ),
                15,
            )
            assert health["live"] and health["status"] == "degraded"
            assert health["exchange"]["ok"] is False
            assert "503" in health["exchange"]["error"]
            assert health["exchange"]["consecutive_failed_runs"] >= 2
            assert status["list_error"] is None and status["exchange_error"]
            assert set(status["last_run"]["failures"]) == set(symbols)
            served = client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"})
            assert served.status_code == 200  # the last good value, marked stale
            data = served.json()["data"]
            assert data["stale"] and data["stale_reason"].startswith("latest refresh failed")

            emu.post("/_emulator/config", json={"down": False})
            back = time.monotonic()
            health, status = _wait_for(
                client,
                lambda h, s: (
                    s["consecutive_failed_runs"] == 0
                    and h["exchange"]["consecutive_failed_runs"] == 0
                ),
                10,
            )
            recovery_s = time.monotonic() - back
            assert health["exchange"]["ok"] and health["status"] == "ok"
            assert status["last_run"]["ok"] == 4 and status["exchange_error"] is None
            assert recovery_s < 5, recovery_s
            fresh = client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"}).json()
            assert fresh["data"]["stale"] is False


def test_exchange_down_from_the_start_then_back() -> None:
    with running_emulator() as url, httpx.Client(base_url=url) as emu:
        emu.post("/_emulator/config", json={"down": True, "down_mode": "drop"})
        app = create_app(_settings(url, SYMBOLS_LIMIT=5))
        with serve_app(app) as api_url, httpx.Client(base_url=api_url, timeout=10) as client:
            health, status = _wait_for(client, lambda h, s: s["consecutive_failed_runs"] >= 2, 10)
            assert health["exchange"]["ok"] is False and not health["ready"]
            assert health["exchange"]["error"] == status["list_error"]
            assert "binanceusdm" in status["list_error"]
            emu.post("/_emulator/config", json={"down": False})
            health, status = _wait_for(client, lambda h, s: h["ready"], 15)
            assert status["symbols_count"] == 5 and status["last_run"]["ok"] == 5
            assert status["consecutive_failed_runs"] == 0 and status["list_error"] is None
