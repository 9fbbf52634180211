"""Several timeframes through the API: ``analyze-symbol``, ``series``, ``signals`` and the
push stream take a ``timeframe``; ``matrix`` shows them side by side with their alignment;
an unconfigured timeframe is a 400 that names the configured ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from perpwatch.analysis.alignment import alignment
from perpwatch.api.app import create_app
from tests.api.conftest import API, sim_settings
from tests.support.http_server import serve_app

TIMEFRAMES = "15m,1h,4h"
SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.fixture
def client(redis_url: str) -> Iterator[httpx.Client]:
    app = create_app(sim_settings(REDIS_URL=redis_url, HAMA_TIMEFRAMES=TIMEFRAMES))
    with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def analyze(
    client: httpx.Client, symbol: str, timeframe: str | None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"symbol": symbol, **extra}
    if timeframe is not None:
        body["timeframe"] = timeframe
    return client.post(f"{API}/analyze-symbol", json=body)


def test_each_timeframe_is_its_own_analysis(client: httpx.Client, redis_sync: Any) -> None:
    r = redis_sync()
    docs = {}
    for tf in ("15m", "1h", "4h"):
        got = analyze(client, "BTCUSDT", tf, force_refresh=True)
        assert got.status_code == 200, got.text
        docs[tf] = got.json()["data"]
        assert docs[tf]["timeframe"] == tf
    assert json.loads(r.get("hama:analysis:BTCUSDT"))["timeframe"] == "15m"  # the seed's key
    assert json.loads(r.get("hama:analysis:BTCUSDT:1h"))["timeframe"] == "1h"
    assert json.loads(r.get("hama:analysis:BTCUSDT:4h"))["timeframe"] == "4h"
    # a plain read is a cache hit of the right timeframe (the fast path serves it)
    hit = analyze(client, "BTCUSDT", "4h").json()
    assert hit["msg"].startswith("success (cached") and hit["data"]["timeframe"] == "4h"
    assert hit["data"]["timestamp_ms"] == docs["4h"]["timestamp_ms"]
    assert analyze(client, "BTCUSDT", None).json()["data"]["timeframe"] == "15m"
    closes = {tf: d["candle_close_time"] for tf, d in docs.items()}
    assert closes["4h"] <= closes["1h"] <= closes["15m"]
    assert closes["4h"][11:] in {f"{h:02d}:00:00.000Z" for h in range(0, 24, 4)}


@pytest.mark.parametrize("bad", ["5m", "1H", "x" * 10, ""])
def test_an_unconfigured_timeframe_is_a_400_naming_the_configured(
    client: httpx.Client, bad: str
) -> None:
    for got in (
        analyze(client, "BTCUSDT", bad),
        client.get(f"{API}/series/BTCUSDT", params={"timeframe": bad}),
        client.get(f"{API}/signals", params={"timeframe": bad}),
    ):
        assert got.status_code == 400, got.text
        assert "15m, 1h, 4h" in got.json()["msg"] and got.json()["data"] is None


def test_hostile_timeframes_and_matrix_queries(client: httpx.Client) -> None:
    body = {"symbol": "BTCUSDT", "timeframe": 60}
    assert client.post(f"{API}/analyze-symbol", json=body).status_code == 422
    assert analyze(client, "BTCUSDT", "1" * 11).status_code == 422  # too long
    for params in (
        {"min_alignment": "2"},
        {"min_alignment": "-0.1"},
        {"min_alignment": "nan"},
        {"min_alignment": "inf"},
        {"symbols": ","},
        {"symbols": "BTC USDT"},
        {"symbols": ",".join(f"S{i}USDT" for i in range(2001))},
    ):
        got = client.get(f"{API}/matrix", params=params)
        assert got.status_code in (400, 422), (params, got.text)
        assert got.json()["code"] == 0 and "Traceback" not in got.text


def test_the_matrix_and_its_alignment(client: httpx.Client) -> None:
    for symbol in SYMBOLS:
        for tf in ("15m", "1h", "4h"):
            assert analyze(client, symbol, tf, force_refresh=True).status_code == 200
    got = client.get(f"{API}/matrix", params={"symbols": "btcusdt,ETHUSDT,SOLUSDT"})
    assert got.status_code == 200, got.text
    data = got.json()["data"]
    assert data["timeframes"] == ["15m", "1h", "4h"] and data["count"] == 3
    rows = {row["symbol"]: row for row in data["rows"]}
    assert rows["SOLUSDT"]["timeframes"] == {"15m": None, "1h": None, "4h": None}
    assert rows["SOLUSDT"]["alignment"] is None and data["rows"][-1]["symbol"] == "SOLUSDT"
    for symbol in SYMBOLS:
        cells = rows[symbol]["timeframes"]
        for tf, c in cells.items():
            cached = analyze(client, symbol, tf).json()["data"]["hama_analysis"]
            assert (c["recommendation"], c["confidence"]) == (
                cached["recommendation"],
                cached["confidence"],
            )
            assert c["stale"] is False and c["age_seconds"] >= 0
        want = alignment((c["recommendation"], c["confidence"]) for c in cells.values())
        assert rows[symbol]["alignment"] == want
    strongest = max(abs(rows[s]["alignment"]) for s in SYMBOLS)
    params = {"symbols": "BTCUSDT,ETHUSDT", "min_alignment": strongest}
    only = client.get(f"{API}/matrix", params=params).json()["data"]
    assert [abs(r["alignment"]) for r in only["rows"]] == [strongest]


def test_series_and_signals_take_the_timeframe(client: httpx.Client) -> None:
    assert analyze(client, "ETHUSDT", "1h", force_refresh=True).status_code == 200
    s = client.get(f"{API}/series/ETHUSDT", params={"timeframe": "1h", "bars": 50}).json()
    assert s["data"]["timeframe"] == "1h" and len(s["data"]["time"]) == 50
    steps = {b - a for a, b in zip(s["data"]["time"], s["data"]["time"][1:], strict=False)}
    assert steps == {3_600_000}
    sig = client.get(f"{API}/signals", params={"timeframe": "1h"}).json()["data"]
    assert [row["symbol"] for row in sig["signals"]] == ["ETHUSDT"]


def test_push_carries_the_timeframe(client: httpx.Client) -> None:
    assert analyze(client, "BTCUSDT", "1h", force_refresh=True).status_code == 200
    assert analyze(client, "BTCUSDT", "15m", force_refresh=True).status_code == 200
    url = str(client.base_url).replace("http://", "ws://") + "/ws"
    with connect(url, max_size=None) as ws:
        ws.send(json.dumps({"type": "subscribe", "channels": ["signals"], "timeframes": ["1h"]}))
        assert json.loads(ws.recv(10))["type"] == "subscribed"
        snap = json.loads(ws.recv(10))
        assert snap["type"] == "snapshot"
        assert {(d["symbol"], d["timeframe"]) for d in snap["data"]} == {("BTCUSDT", "1h")}
        assert analyze(client, "BTCUSDT", "15m", force_refresh=True).status_code == 200
        assert analyze(client, "BTCUSDT", "1h", force_refresh=True).status_code == 200
        live = json.loads(ws.recv(10))
        assert live["type"] == "analysis" and live["data"]["timeframe"] == "1h"
        ws.send(json.dumps({"type": "subscribe", "channels": ["signals"], "timeframes": ["2h"]}))
        err = json.loads(ws.recv(10))
        assert err["type"] == "error" and "2h" in err["msg"]
