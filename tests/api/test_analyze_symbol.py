"""POST /api/gainer-analysis/analyze-symbol: the contract existing clients rely on."""

from __future__ import annotations

import concurrent.futures
import json

import redis

from tests.api.conftest import API, AppFactory

SIGNAL_FIELDS = {
    "ha_open",
    "ha_high",
    "ha_low",
    "ha_close",
    "hama_ma",
    "deviation_pct",
    "last_cross_direction",
    "realtime_price",
    "trend_strength",
    "volume_confirmation",
}
INDICATOR_FIELDS = {
    "hama_status",
    "candle_close",
    "ma_value",
    "deviation_pct",
    "realtime_price",
    "bollinger",
    "rsi",
    "macd",
    "atr",
    "volume",
}
CONDITION_FIELDS = {
    "is_uptrend",
    "is_downtrend",
    "confidence_above_70",
    "has_volume_confirmation",
    "meets_buy_criteria",
    "meets_sell_criteria",
    "summary",
}


def test_miss_then_hit_from_redis(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        first = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["code"] == 1 and body["msg"] == "success"
        data = body["data"]
        assert data["symbol"] == "BTCUSDT"
        assert data["cached"] is False and data["cache_source"] is None
        h = data["hama_analysis"]
        assert h["recommendation"] in {"BUY", "SELL", "HOLD"}
        assert 0.0 <= h["confidence"] <= 1.0
        assert set(h["signals"]) >= SIGNAL_FIELDS
        assert h["signals"]["last_cross_direction"] in (1, -1, 0)
        assert set(h["technical_indicators"]) >= INDICATOR_FIELDS
        assert set(data["conditions"]) >= CONDITION_FIELDS
        assert data["candles_used"] >= 400

        second = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT"}).json()
        assert second["msg"] == "success (cached from redis)"
        assert second["data"]["cached"] is True and second["data"]["cache_source"] == "redis"
        # the timestamp is when the analysis was computed, not when it was asked for
        assert second["data"]["timestamp"] == data["timestamp"]
        assert second["data"]["age_seconds"] >= 0

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        raw = r.get("hama:analysis:BTCUSDT")
        assert raw is not None
        stored = json.loads(raw)
        assert stored["timestamp"] == data["timestamp"]
        assert 0 < r.ttl("hama:analysis:BTCUSDT") <= 300
    finally:
        r.close()


def test_force_refresh_recomputes(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        a = client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"}).json()["data"]
        b = client.post(
            f"{API}/analyze-symbol", json={"symbol": "ETHUSDT", "force_refresh": True}
        ).json()
        assert b["msg"] == "success" and b["data"]["cached"] is False
        assert b["data"]["timestamp_ms"] > a["timestamp_ms"]


def test_symbol_spellings_are_normalised(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        for raw in ("btcusdt", "BTC/USDT:USDT", "BTC-USDT"):
            r = client.post(f"{API}/analyze-symbol", json={"symbol": raw})
            assert r.status_code == 200
            assert r.json()["data"]["symbol"] == "BTCUSDT"


def test_memory_cache_when_redis_disabled(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        client.post(f"{API}/analyze-symbol", json={"symbol": "SOLUSDT"})
        hit = client.post(f"{API}/analyze-symbol", json={"symbol": "SOLUSDT"}).json()
        assert hit["msg"] == "success (cached from memory)"
        assert hit["data"]["cache_source"] == "memory"


def test_concurrent_misses_share_one_computation(app_client: AppFactory, redis_url: str) -> None:
    with app_client(REDIS_URL=redis_url) as client:
        before = client.get(f"{API}/cache-stats").json()["data"]["computations"]

        def ask() -> int:
            return client.post(
                f"{API}/analyze-symbol", json={"symbol": "XRPUSDT", "force_refresh": True}
            ).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(lambda _: ask(), range(8)))
        assert codes == [200] * 8
        after = client.get(f"{API}/cache-stats").json()["data"]["computations"]
        assert 1 <= after - before < 8


def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    app_client: AppFactory, redis_url: str
) -> None:
    cases = [
        ({"symbol": "FOOBARUSDT"}, 404, "unknown symbol"),
        ({"symbol": "BTC USDT"}, 400, "symbol"),
        ({"symbol": "hama:analysis:*"}, 400, "symbol"),
        ({"symbol": ""}, 400, "symbol"),
        ({"symbol": "A" * 500}, 422, "symbol"),
        ({"symbol": 42}, 422, "symbol"),
        ({"symbol": "BTCUSDT", "force_refresh": "yes"}, 422, "force_refresh"),
        ({"symbol": "BTCUSDT", "extra": 1}, 422, "extra"),
        ({}, 422, "symbol"),
    ]
    r = redis.Redis.from_url(redis_url)
    try:
        with app_client(REDIS_URL=redis_url) as client:
            # the process's own bookkeeping (heartbeat, shard queue) is there from the
            # start; what bad input must not do is add or change data
            before = {k: r.type(k) for k in r.scan_iter()}
            assert set(before) <= {b"hama:processes", b"hama:shards"}
            for body, status, word in cases:
                resp = client.post(f"{API}/analyze-symbol", json=body)
                assert resp.status_code == status, (body, resp.text)
                err = resp.json()
                assert err["code"] == 0 and err["data"] is None
                assert word in err["msg"].lower(), (body, err["msg"])
                assert "Traceback" not in resp.text
            malformed = client.post(
                f"{API}/analyze-symbol",
                content=b"{not json",
                headers={"content-type": "application/json"},
            )
            assert malformed.status_code == 422 and malformed.json()["code"] == 0
            missing = client.get("/api/gainer-analysis/nope")
            assert missing.status_code == 404 and missing.json()["code"] == 0
            assert {k: r.type(k) for k in r.scan_iter()} == before
            assert r.xlen("hama:shards") == 0
    finally:
        r.close()
