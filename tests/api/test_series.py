"""``GET /api/gainer-analysis/series/{symbol}``: chart arrays from the candles held, with
the analysis's own values at the end, no exchange call, and bad input refused."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

from perpwatch.api.app import create_app
from tests.api.conftest import API, AppFactory, sim_settings
from tests.support.http_server import serve_app


@pytest.fixture
def served(redis_url: str) -> Iterator[tuple[httpx.Client, object]]:
    app = create_app(sim_settings(REDIS_URL=redis_url))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client, app


def test_the_last_values_are_the_analysis_and_no_exchange_call_is_made(
    served: tuple[httpx.Client, object],
) -> None:
    client, app = served
    doc = client.post(f"{API}/analyze-symbol", json={"symbol": "BTCUSDT", "force_refresh": True})
    a = doc.json()["data"]
    market = app.state.runtime.market  # type: ignore[attr-defined]
    calls = market.calls["fetch_candles"]
    r = client.get(f"{API}/series/btc-usdt", params={"bars": 300})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["code"] == 1
    s = body["data"]
    assert s["symbol"] == "BTCUSDT" and s["timeframe"] == "15m" and s["bars"] == 300
    for name in ("time", "open", "high", "low", "close", "volume", "rsi"):
        assert len(s[name]) == 300, name
    for group, names in (("hama", ("open", "high", "low", "close", "ma")),
                         ("bollinger", ("upper", "middle", "lower")),
                         ("macd", ("macd", "signal", "histogram"))):  # fmt: skip
        for name in names:
            assert len(s[group][name]) == 300, (group, name)
    assert s["time"] == sorted(s["time"]) and len(set(s["time"])) == 300
    assert s["candle_close_time"] == a["candle_close_time"]
    h, ti = a["hama_analysis"]["signals"], a["hama_analysis"]["technical_indicators"]
    assert math.isclose(s["hama"]["close"][-1], h["ha_close"], rel_tol=1e-12)
    assert math.isclose(s["hama"]["open"][-1], h["ha_open"], rel_tol=1e-12)
    assert math.isclose(s["hama"]["ma"][-1], h["hama_ma"], rel_tol=1e-12)
    assert math.isclose(s["bollinger"]["upper"][-1], ti["bollinger"]["upper"], rel_tol=1e-12)
    assert math.isclose(s["rsi"][-1], ti["rsi"], abs_tol=1e-4)  # the analysis rounds it
    assert math.isclose(s["macd"]["histogram"][-1], ti["macd"]["histogram"], rel_tol=1e-9)
    cross = a["hama_analysis"]["signals"]["last_cross_direction"]
    if s["crosses"]:
        assert s["crosses"][-1]["direction"] == cross
        assert s["crosses"][-1]["time"] in s["time"]
    again = client.get(f"{API}/series/BTCUSDT", params={"bars": 300}).json()["data"]
    assert again["timestamp_ms"] == s["timestamp_ms"]  # cached until the next candle
    assert market.calls["fetch_candles"] == calls  # no exchange weight at all
    short = client.get(f"{API}/series/BTCUSDT", params={"bars": 10}).json()["data"]
    assert short["time"] == s["time"][-10:] and short["rsi"] == s["rsi"][-10:]


def test_early_values_are_null_not_invented(served: tuple[httpx.Client, object]) -> None:
    client, _ = served
    client.post(f"{API}/analyze-symbol", json={"symbol": "ETHUSDT"})
    s = client.get(f"{API}/series/ETHUSDT", params={"bars": 1000}).json()["data"]
    assert s["bars"] < 1000  # only what is held
    assert s["bollinger"]["upper"][0] is None  # a 400-bar band is not defined at the start
    assert s["bollinger"]["upper"][-1] is not None
    assert s["hama"]["ma"][0] is None and s["hama"]["ma"][-1] is not None


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("NOPEUSDT", {}, 404, "unknown symbol"),
        ("!!", {}, 400, "symbol"),
        ("BTCUSDT", {"timeframe": "1h"}, 400, "configured: 15m"),
        ("BTCUSDT", {"bars": "5"}, 422, "bars"),
        ("BTCUSDT", {"bars": "100000"}, 422, "bars"),
        ("BTCUSDT", {"bars": "many"}, 422, "bars"),
        ("SOLUSDT", {}, 503, "no candle history of SOLUSDT"),  # listed, never refreshed
    ],
)
def test_bad_input_is_4xx_and_missing_data_is_said(
    app_client: AppFactory, path: str, params: dict[str, str], status: int, fragment: str
) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        r = client.get(f"{API}/series/{path}", params=params)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["code"] == 0 and body["data"] is None and fragment in body["msg"]
