"""The Binance USD-M emulator, exercised by the real ccxt ``binanceusdm`` client over HTTP."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import ccxt.async_support as ccxt
import httpx
import pytest

from perpwatch.emulator import (
    WEIGHT_HEADER,
    WeightCounter,
    create_emulator_app,
    klines_weight,
    request_weight,
    running_emulator,
)
from perpwatch.market.sim.model import SimUniverse, sim_candles, sim_funding

TF = 900_000
UNIVERSE = SimUniverse(42, 160)


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


CLOCK = Clock(1_750_000_000.0 + 7 * 60 + 0.25)  # 7 minutes into a 15m candle
NOW_MS = int(CLOCK.t * 1000)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_emulator(clock=CLOCK) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh_stats(base_url: str) -> None:
    CLOCK.t = NOW_MS / 1000
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()


def stats(base_url: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{base_url}/_emulator/stats").json()
    return result


@pytest.fixture
async def exchange(base_url: str) -> AsyncIterator[Any]:
    ex = ccxt.binanceusdm({"enableRateLimit": False})
    ex.timeout_on_exit = 0  # plain HTTP on loopback: no TLS shutdown to wait for
    ex.urls["api"] = {
        k: re.sub(r"^https?://[^/]+", base_url, v) if isinstance(v, str) else v
        for k, v in ex.urls["api"].items()
    }
    try:
        yield ex
    finally:
        await ex.close()


# --- ccxt -----------------------------------------------------------------------------


async def test_load_markets_lists_everything_flagged_for_filtering(
    exchange: Any, base_url: str
) -> None:
    markets = await exchange.load_markets()
    perps = [m for m in markets.values() if m["swap"] and m["linear"] and m["settle"] == "USDT"]
    active = [m for m in perps if m["active"]]
    assert len(active) == 160 and "BTC/USDT:USDT" in markets
    assert {m["id"] for m in perps if not m["active"]} == {"FTTUSDT", "PUMPUSDT"}
    quarterly = [m for m in markets.values() if m["future"]]
    assert len(quarterly) == 1 and quarterly[0]["id"].startswith("BTCUSDT_")
    assert quarterly[0]["expiry"] > NOW_MS
    assert markets["BTC/USDC:USDC"]["settle"] == "USDC"
    assert markets["BTC/USDT:USDT"]["precision"]["price"] == 0.1
    assert stats(base_url)["requests"] == {"/fapi/v1/exchangeInfo": 1}


async def test_fetch_ohlcv_most_recent_499(exchange: Any, base_url: str) -> None:
    rows = await exchange.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=499)
    assert len(rows) == 499 and rows[-1][0] == NOW_MS // TF * TF
    sim = sim_candles(UNIVERSE, "BTCUSDT", timeframe_ms=TF, start_open_ms=rows[0][0], count=499,
                      now_ms=NOW_MS)  # fmt: skip
    assert [r[4] for r in rows] == pytest.approx(sim.close.tolist(), rel=1e-12)
    assert [r[5] for r in rows] == pytest.approx(sim.volume.tolist(), rel=1e-12)
    s = stats(base_url)
    assert s["requests"] == {"/fapi/v1/exchangeInfo": 1, "/fapi/v1/klines": 1}
    assert s["klines_limits"] == [499] and s["weight_by_path"]["/fapi/v1/klines"] == 2
    assert s["klines_by_interval"] == {"15m": 1} and s["klines_weight_by_interval"] == {"15m": 2}


async def test_fetch_ohlcv_since(exchange: Any, base_url: str) -> None:
    since = NOW_MS // TF * TF - 3 * TF
    rows = await exchange.fetch_ohlcv("ETH/USDT:USDT", "15m", since=since, limit=5)
    assert [r[0] for r in rows] == [since + i * TF for i in range(4)]  # up to the open candle
    default = await exchange.fetch_ohlcv("ETH/USDT:USDT", "15m", since=since)
    assert default == rows
    s = stats(base_url)
    assert s["klines_limits"] == [5, 500]  # ccxt asks for 500 when no limit is given
    assert s["weight_by_path"]["/fapi/v1/klines"] == 1 + 5


async def test_fetch_tickers(exchange: Any, base_url: str) -> None:
    tickers = await exchange.fetch_tickers()
    assert len(tickers) == 162  # 160 USDT perpetuals + the USDC perpetual + the quarterly
    usdt = {k: t for k, t in tickers.items() if k.endswith("/USDT:USDT")}
    assert max(usdt, key=lambda k: usdt[k]["quoteVolume"]) == "BTC/USDT:USDT"
    assert tickers["BTC/USDT:USDT"]["last"] > 0
    assert stats(base_url)["weight_by_path"]["/fapi/v1/ticker/24hr"] == 40


async def test_fetch_funding_rates(exchange: Any, base_url: str) -> None:
    rates = await exchange.fetch_funding_rates()
    btc = rates["BTC/USDT:USDT"]
    expected = sim_funding(UNIVERSE, "BTCUSDT", NOW_MS)
    assert btc["fundingRate"] == pytest.approx(expected.funding_rate)
    assert btc["fundingTimestamp"] == expected.next_funding_time_ms
    assert btc["markPrice"] == pytest.approx(expected.mark_price)
    assert btc["interval"] is None  # premiumIndex does not say; fundingInfo does
    quarterly = [v for k, v in rates.items() if "-" in k]
    assert len(quarterly) == 1 and quarterly[0]["fundingRate"] is None
    assert stats(base_url)["weight_by_path"]["/fapi/v1/premiumIndex"] == 10


async def test_fetch_funding_intervals(exchange: Any, base_url: str) -> None:
    intervals = await exchange.fetch_funding_intervals()
    expected = {s.ccxt_symbol: f"{s.funding_interval_h}h" for s in UNIVERSE}
    assert intervals and {k: v["interval"] for k, v in intervals.items()} == {
        k: v for k, v in expected.items() if v != "8h"
    }
    one = await exchange.fetch_funding_interval(next(iter(intervals)))
    assert one["interval"] in ("1h", "4h")
    with pytest.raises(ccxt.NullResponse):  # 8h contracts are absent, as on Binance
        await exchange.fetch_funding_interval("BTC/USDT:USDT")
    assert stats(base_url)["requests"]["/fapi/v1/fundingInfo"] == 3


async def test_fetch_funding_rate_history(exchange: Any) -> None:
    history = await exchange.fetch_funding_rate_history("BTC/USDT:USDT", limit=3)
    times = [h["timestamp"] for h in history]
    assert len(times) == 3 and times[-1] <= NOW_MS and times[-1] % (8 * 3_600_000) == 0
    assert all(b - a == 8 * 3_600_000 for a, b in itertools.pairwise(times))


async def test_unknown_symbol_is_a_bad_symbol(exchange: Any) -> None:
    await exchange.load_markets()
    with pytest.raises(ccxt.BadSymbol):
        await exchange.fetch_ohlcv("FTT/USDT:USDT", "15m", limit=5)  # SETTLING: no data


# --- raw HTTP -------------------------------------------------------------------------


def test_weight_header_accumulates_within_the_minute(base_url: str) -> None:
    params = {"symbol": "BTCUSDT", "interval": "15m", "limit": "499"}
    with httpx.Client(base_url=base_url) as client:
        used = [client.get("/fapi/v1/klines", params=params).headers[WEIGHT_HEADER]]
        used.append(client.get("/fapi/v1/klines", params={**params, "limit": "5"}).headers[
            WEIGHT_HEADER])  # fmt: skip
        CLOCK.t += 60  # next minute: the counter starts again
        used.append(client.get("/fapi/v1/ping").headers[WEIGHT_HEADER])
    assert used == ["2", "3", "1"]
    s = stats(base_url)
    assert s["weight_total"] == 4 and s["klines_limits"] == [499, 5]
    assert s["requests"] == {"/fapi/v1/klines": 2, "/fapi/v1/ping": 1}


def test_kline_row_format(base_url: str) -> None:
    params = {"symbol": "ETHUSDT", "interval": "1h", "limit": "3"}
    rows = httpx.get(f"{base_url}/fapi/v1/klines", params=params).json()
    types = [type(v).__name__ for v in rows[0]]
    assert types == [
        "int",
        "str",
        "str",
        "str",
        "str",
        "str",
        "int",
        "str",
        "int",
        "str",
        "str",
        "str",
    ]
    assert rows[0][6] == rows[0][0] + 3_600_000 - 1 and rows[1][1] == rows[0][4]


def test_exchange_info_and_funding_info(base_url: str) -> None:
    info = httpx.get(f"{base_url}/fapi/v1/exchangeInfo").json()
    limit = next(r for r in info["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT")
    assert (limit["interval"], limit["intervalNum"], limit["limit"]) == ("MINUTE", 1, 2400)
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert (btc["contractType"], btc["status"], btc["marginAsset"]) == (
        "PERPETUAL",
        "TRADING",
        "USDT",
    )
    assert {f["filterType"] for f in btc["filters"]} >= {"PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL"}
    statuses = {s["symbol"]: s["status"] for s in info["symbols"]}
    assert statuses["FTTUSDT"] == "SETTLING" and statuses["PUMPUSDT"] == "PENDING_TRADING"
    funding_info = httpx.get(f"{base_url}/fapi/v1/fundingInfo").json()
    assert funding_info and all(f["fundingIntervalHours"] in (1, 4) for f in funding_info)
    assert set(funding_info[0]) == {"symbol", "adjustedFundingRateCap",
                                    "adjustedFundingRateFloor", "fundingIntervalHours",
                                    "disclaimer"}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/fapi/v1/klines", {"symbol": "NOPEUSDT", "interval": "15m"}, 400, -1121),
        ("/fapi/v1/klines", {"interval": "15m"}, 400, -1102),
        ("/fapi/v1/klines", {"symbol": "btc usdt", "interval": "15m"}, 400, -1100),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "7m"}, 400, -1120),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "15m", "limit": "x"}, 400, -1100),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "15m", "limit": "1501"}, 400, -1130),
        ("/fapi/v1/ticker/24hr", {"symbol": "FTTUSDT"}, 400, -1121),
        ("/fapi/v1/premiumIndex", {"symbol": "NOPEUSDT"}, 400, -1121),
        ("/fapi/v1/nope", {}, 404, -5000),
    ],
)
def test_errors_in_binance_format(
    base_url: str, path: str, params: dict[str, str], status: int, code: int
) -> None:
    r = httpx.get(f"{base_url}{path}", params=params)
    assert r.status_code == status and r.json()["code"] == code and r.json()["msg"]


def test_single_symbol_endpoints(base_url: str) -> None:
    one = {"symbol": "SOLUSDT"}
    ticker = httpx.get(f"{base_url}/fapi/v1/ticker/24hr", params=one).json()
    price = httpx.get(f"{base_url}/fapi/v1/ticker/price", params=one).json()
    premium = httpx.get(f"{base_url}/fapi/v1/premiumIndex", params=one).json()
    assert ticker["symbol"] == price["symbol"] == premium["symbol"] == "SOLUSDT"
    assert ticker["lastPrice"] == price["price"] and isinstance(premium["nextFundingTime"], int)
    assert stats(base_url)["weight_total"] == 3


# --- weights and latency, in-process --------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "weight"), [(1, 1), (99, 1), (100, 2), (499, 2), (500, 5), (1000, 5), (1001, 10)]
)
def test_klines_weight_table(limit: int, weight: int) -> None:
    assert klines_weight(limit) == weight


def test_request_weights_with_and_without_symbol() -> None:
    assert request_weight("/fapi/v1/ticker/24hr", {}) == 40
    assert request_weight("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}) == 1
    assert request_weight("/fapi/v1/premiumIndex", {}) == 10
    assert request_weight("/fapi/v2/ticker/price", {}) == 2
    assert request_weight("/fapi/v1/klines", {"symbol": "BTCUSDT"}) == 5  # default limit 500
    counter = WeightCounter()
    assert [counter.record(5, 120.0), counter.record(2, 179.9), counter.record(1, 180.0)] == [
        5,
        7,
        1,
    ]
    assert counter.used(180.5) == 1 and counter.used(240.0) == 0


async def test_latency_is_added_to_every_response() -> None:
    app = create_emulator_app(latency_ms=60, clock=CLOCK)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        start = time.perf_counter()
        r = await client.get("/fapi/v1/time")
        elapsed = time.perf_counter() - start
    assert r.json() == {"serverTime": NOW_MS} and elapsed >= 0.06
