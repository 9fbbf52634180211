"""End to end through the live-exchange code path: app -> ccxt binanceusdm -> emulator."""

from __future__ import annotations

import time

from perpwatch.emulator import running_emulator
from tests.api.conftest import API, AppFactory


def test_app_on_binanceusdm_via_the_emulator(app_client: AppFactory, redis_url: str) -> None:
    with (
        running_emulator() as url,
        app_client(
            MARKET="binanceusdm",
            EXCHANGE_API_URL=url,
            REDIS_URL=redis_url,
            SYMBOLS_LIMIT=8,
            HAMA_SCHEDULER_AUTO_START=True,
        ) as client,
    ):
        r = client.post(f"{API}/analyze-symbol", json={"symbol": "BTC/USDT:USDT"})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["exchange"] == "binanceusdm" and data["symbol"] == "BTCUSDT"
        assert data["candles_used"] == 498
        deadline = time.monotonic() + 30
        while True:
            s = client.get(f"{API}/scheduler/status").json()["data"]
            if s["last_run"] is not None:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert s["last_run"]["ok"] == 8 and s["symbols"][0] == "BTCUSDT"
        # the emulator reports the IP's weight as Binance does (X-MBX-USED-WEIGHT-1M)
        ex = s["exchange_state"]
        assert ex["name"] == "binanceusdm" and ex["breaker_open"] is False
        assert ex["weight_limit"] == 2400 and ex["rate_limited"] == 0
        for _ in range(3):  # None only when a new minute began after the last request
            client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT", "force_refresh": True})
            used = client.get(f"{API}/scheduler/status").json()["data"]["exchange_state"]
            if used["weight_used"] is not None:
                break
        assert 0 < used["weight_used"] <= 2400
        assert (
            client.post(f"{API}/analyze-symbol", json={"symbol": "NOSUCHUSDT"}).status_code == 404
        )
