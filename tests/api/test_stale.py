"""The exchange fails after a good value was cached: the good value is served, marked stale."""

from __future__ import annotations

from perpwatch.emulator import running_emulator
from tests.api.conftest import API, AppFactory
from tests.support.redis_server import free_port


def test_last_good_value_is_served_marked_stale(app_client: AppFactory, redis_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with app_client(
        MARKET="binanceusdm",
        EXCHANGE_API_URL=url,
        REDIS_URL=redis_url,
        EXCHANGE_RETRIES=0,
        EXCHANGE_TIMEOUT=2,
    ) as client:
        with running_emulator(port=port):
            good = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()["data"]
            assert good["stale"] is False and good["stale_reason"] is None
        # the exchange is gone: a forced refresh fails honestly
        failed = client.post(
            f"{API}/analyze-symbol", json={"symbol": "BTCUSDT", "force_refresh": True}
        )
        assert failed.status_code == 503 and failed.json()["code"] == 0
        served = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()["data"]
        assert served["cached"] is True and served["stale"] is True
        assert "latest refresh failed" in served["stale_reason"]
        assert served["timestamp"] == good["timestamp"]  # the last good value, unchanged
        assert served["age_seconds"] >= 0
        # a symbol never computed has nothing to fall back on: an error, not a value
        none = client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"})
        assert none.status_code == 503
        with running_emulator(port=port):
            fresh = client.post(
                f"{API}/analyze-symbol", json={"symbol": "BTCUSDT", "force_refresh": True}
            ).json()["data"]
            assert fresh["stale"] is False and fresh["timestamp_ms"] > good["timestamp_ms"]
