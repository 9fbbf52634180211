"""The Bybit v5 and OKX v5 emulators, exercised by the real ccxt clients over HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import ccxt.async_support as ccxt
import httpx
import pytest

from perpwatch.emulator import create_emulator_app, running_emulator
from perpwatch.market.ccxt.market import rewrite_api_urls
from perpwatch.market.exchanges import EXCHANGES
from perpwatch.market.sim.model import SimUniverse, sim_funding, sim_ticker_24h, venue_symbols

U = SimUniverse(42, 160)
HOUR_MS = 3_600_000


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


CLOCK = Clock(1_750_000_000.0 + 7 * 60 + 0.25)
NOW_MS = int(CLOCK.t * 1000)
BYBIT, OKX = venue_symbols(U, "bybit"), venue_symbols(U, "okx")


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_emulator(clock=CLOCK) as url:
        yield url


def _reset(base_url: str) -> None:
    httpx.post(f"{base_url}/_emulator/reset").raise_for_status()


@pytest.fixture(autouse=True)
def _fresh_stats(base_url: str) -> None:
    CLOCK.t = NOW_MS / 1000
    _reset(base_url)


def requests_made(base_url: str) -> dict[str, int]:
    result: dict[str, int] = httpx.get(f"{base_url}/_emulator/stats").json()["requests"]
    return result


async def _client(exchange_id: str, base_url: str, *, restricted: bool) -> Any:
    options = {
        "defaultType": "swap",
        **(EXCHANGES[exchange_id].client_options if restricted else {}),
    }
    ex = getattr(ccxt, exchange_id)({"enableRateLimit": False, "options": options})
    ex.timeout_on_exit = 0  # plain HTTP on loopback: no TLS shutdown to wait for
    ex.urls["api"] = rewrite_api_urls(ex.urls["api"], base_url)
    return ex


@pytest.fixture
async def bybit(base_url: str) -> AsyncIterator[Any]:
    ex = await _client("bybit", base_url, restricted=True)
    try:
        await ex.load_markets()
        _reset(base_url)
        yield ex
    finally:
        await ex.close()


@pytest.fixture
async def okx(base_url: str) -> AsyncIterator[Any]:
    ex = await _client("okx", base_url, restricted=True)
    try:
        await ex.load_markets()
        _reset(base_url)
        yield ex
    finally:
        await ex.close()


def _px(x: float, symbol: str = "BTCUSDT") -> float:
    """``x`` as the emulators write prices: at the contract's tick."""
    return float(f"{x:.{U.get(symbol).price_decimals}f}")


# --- Bybit ----------------------------------------------------------------------------


async def test_bybit_default_load_markets_parses_every_category(base_url: str) -> None:
    ex = await _client("bybit", base_url, restricted=False)
    try:
        markets = await ex.load_markets()
    finally:
        await ex.close()
    perps = {k for k, m in markets.items() if m["swap"] and m["linear"] and m["settle"] == "USDT"}
    active = {markets[k]["id"] for k in perps if markets[k]["active"]}
    assert active == set(BYBIT) and len(BYBIT) < 160  # not every contract is on Bybit
    assert {markets[k]["id"] for k in perps - {k for k in perps if markets[k]["active"]}} == {
        "PUMPUSDT"  # PreLaunch: only listed when asked for status=PreLaunch
    }
    (future,) = [m for m in markets.values() if m["future"]]
    assert future["id"].startswith("BTCUSDT-") and future["expiry"] > NOW_MS
    assert markets["BTC/USDC:USDC"]["settle"] == "USDC"
    assert markets["BTC/USDT:USDT"]["info"]["fundingInterval"] == 480
    # spot, linear (+ PreLaunch), inverse (+ PreLaunch) and six option base coins
    assert requests_made(base_url) == {"/v5/market/instruments-info": 11}


async def test_bybit_restricted_load_markets_is_two_requests(base_url: str) -> None:
    ex = await _client("bybit", base_url, restricted=True)
    try:
        await ex.load_markets()
    finally:
        await ex.close()
    assert requests_made(base_url) == {"/v5/market/instruments-info": 2}


async def test_bybit_fetch_tickers(bybit: Any, base_url: str) -> None:
    tickers = await bybit.fetch_tickers()
    assert len(tickers) == len(BYBIT) + 2  # + the quarterly and the USDC perpetual
    btc, sim = tickers["BTC/USDT:USDT"], sim_ticker_24h(U, "BTCUSDT", NOW_MS, "bybit")
    assert btc["last"] == _px(sim.last) and btc["quoteVolume"] == pytest.approx(sim.quote_volume)
    funding = sim_funding(U, "BTCUSDT", NOW_MS, "bybit")
    assert btc["markPrice"] == _px(funding.mark_price)
    assert btc["indexPrice"] == _px(funding.index_price)
    assert btc["timestamp"] is None  # Bybit's linear tickers carry no per-ticker time
    assert requests_made(base_url) == {"/v5/market/tickers": 1}


async def test_bybit_fetch_funding_rates_is_one_request(bybit: Any, base_url: str) -> None:
    rates = await bybit.fetch_funding_rates()
    assert requests_made(base_url) == {"/v5/market/tickers": 1}
    for name in BYBIT:
        s, sim = U.get(name), sim_funding(U, name, NOW_MS, "bybit")
        r = rates[s.ccxt_symbol]
        assert r["fundingRate"] == sim.funding_rate
        assert r["fundingTimestamp"] == sim.next_funding_time_ms
        assert r["interval"] == f"{sim.funding_interval_h}h"  # ccxt: from fundingInterval
        assert r["info"]["fundingIntervalHour"] == str(sim.funding_interval_h)
        assert r["timestamp"] == NOW_MS
    intervals = {rates[U.get(n).ccxt_symbol]["interval"] for n in BYBIT}
    assert intervals == {"1h", "4h", "8h"}
    (quarterly,) = [r for k, r in rates.items() if "-" in k]
    assert quarterly["fundingRate"] is None and quarterly["info"]["deliveryTime"] != "0"


def test_bybit_wire_format(base_url: str) -> None:
    r = httpx.get(f"{base_url}/v5/market/tickers", params={"category": "linear"}).json()
    assert set(r) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert (r["retCode"], r["retMsg"], r["retExtInfo"], r["time"]) == (0, "OK", {}, NOW_MS)
    assert all(isinstance(v, str) for t in r["result"]["list"] for v in t.values())
    page = httpx.get(f"{base_url}/v5/market/instruments-info",
                     params={"category": "linear", "limit": "100"}).json()["result"]  # fmt: skip
    rest = httpx.get(f"{base_url}/v5/market/instruments-info",
                     params={"category": "linear", "limit": "100",
                             "cursor": page["nextPageCursor"]}).json()["result"]  # fmt: skip
    assert len(page["list"]) == 100 and rest["nextPageCursor"] == ""
    assert len(page["list"]) + len(rest["list"]) == len(BYBIT) + 2
    assert {i["status"] for i in page["list"] + rest["list"]} == {"Trading"}
    for category in ("spot", "inverse", "option"):
        empty = httpx.get(f"{base_url}/v5/market/tickers", params={"category": category}).json()
        assert empty["retCode"] == 0 and empty["result"] == {"category": category, "list": []}


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v5/market/tickers", {}, 10001),
        ("/v5/market/tickers", {"category": "linear", "symbol": "NOPEUSDT"}, 10001),
        ("/v5/market/instruments-info", {"category": "futures"}, 10001),
        ("/v5/market/instruments-info", {"category": "linear", "limit": "1001"}, 10001),
    ],
)
def test_bybit_errors_keep_http_200(
    base_url: str, path: str, params: dict[str, str], code: int
) -> None:
    r = httpx.get(f"{base_url}{path}", params=params)
    assert r.status_code == 200 and r.json()["retCode"] == code and r.json()["retMsg"]


# --- OKX ------------------------------------------------------------------------------


async def test_okx_default_load_markets_parses_every_type(base_url: str) -> None:
    ex = await _client("okx", base_url, restricted=False)
    try:
        markets = await ex.load_markets()
    finally:
        await ex.close()
    usdt = [m for m in markets.values() if m["swap"] and m["linear"] and m["settle"] == "USDT"]
    assert {m["id"] for m in usdt if m["active"]} == {f"{U.get(n).base}-USDT-SWAP" for n in OKX}
    assert {m["id"] for m in usdt if not m["active"]} == {"FTT-USDT-SWAP", "PUMP-USDT-SWAP"}
    assert markets["BTC/USD:BTC"]["inverse"] and markets["BTC/USDC:USDC"]["settle"] == "USDC"
    futures = [m for m in markets.values() if m["future"]]
    assert len(futures) == 2 and all(m["expiry"] > NOW_MS for m in futures)
    assert requests_made(base_url) == {"/api/v5/public/instruments": 5}  # SPOT..OPTION x2


async def test_okx_fetch_tickers(okx: Any, base_url: str) -> None:
    tickers = await okx.fetch_tickers()
    assert len(tickers) == len(OKX) + 2  # + the USDC and the inverse perpetual
    sim = sim_ticker_24h(U, "ETHUSDT", NOW_MS, "okx")
    eth = tickers["ETH/USDT:USDT"]
    assert eth["last"] == _px(sim.last, "ETHUSDT") and eth["timestamp"] == NOW_MS
    assert eth["baseVolume"] > 0  # contracts; ccxt gives OKX swaps no quoteVolume
    assert requests_made(base_url) == {"/api/v5/market/tickers": 1}


async def test_okx_fetch_funding_rates_is_one_request(okx: Any, base_url: str) -> None:
    rates = await okx.fetch_funding_rates()  # GET public/funding-rate?instId=ANY
    assert requests_made(base_url) == {"/api/v5/public/funding-rate": 1}
    assert len(rates) == len(OKX) + 2 and "BTC/USD:BTC" in rates
    for name in OKX:
        s, sim = U.get(name), sim_funding(U, name, NOW_MS, "okx")
        r = rates[s.ccxt_symbol]
        assert r["fundingRate"] == sim.funding_rate
        assert r["fundingTimestamp"] == sim.next_funding_time_ms
        interval_ms = sim.funding_interval_h * HOUR_MS
        assert r["nextFundingTimestamp"] == sim.next_funding_time_ms + interval_ms
        assert r["interval"] == f"{sim.funding_interval_h}h"
    assert {r["interval"] for r in rates.values()} == {"1h", "4h", "8h"}


async def test_okx_mark_and_index_prices_are_one_request_each(okx: Any, base_url: str) -> None:
    marks = await okx.fetch_mark_prices()
    index = await okx.public_get_market_index_tickers({"quoteCcy": "USDT"})
    assert requests_made(base_url) == {
        "/api/v5/public/mark-price": 1,
        "/api/v5/market/index-tickers": 1,
    }
    sim = sim_funding(U, "SOLUSDT", NOW_MS, "okx")
    assert marks["SOL/USDT:USDT"]["markPrice"] == _px(sim.mark_price, "SOLUSDT")
    by_id = {i["instId"]: i for i in index["data"]}
    assert set(by_id) == {f"{U.get(n).base}-USDT" for n in OKX}
    assert float(by_id["SOL-USDT"]["idxPx"]) == _px(sim.index_price, "SOLUSDT")
    assert index["code"] == "0" and all(isinstance(v, str) for v in by_id["SOL-USDT"].values())


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/v5/public/funding-rate", {}, 400, "50014"),
        ("/api/v5/public/funding-rate", {"instId": "NOPE-USDT-SWAP"}, 200, "51001"),
        ("/api/v5/public/funding-rate", {"instId": "FTT-USDT-SWAP"}, 200, "51001"),
        ("/api/v5/public/instruments", {"instType": "PERP"}, 400, "51000"),
        ("/api/v5/public/mark-price", {}, 400, "50014"),
        ("/api/v5/market/index-tickers", {}, 400, "50014"),
    ],
)
def test_okx_errors(
    base_url: str, path: str, params: dict[str, str], status: int, code: str
) -> None:
    r = httpx.get(f"{base_url}{path}", params=params)
    assert r.status_code == status and r.json()["code"] == code
    assert r.json()["data"] == [] and r.json()["msg"]


def test_okx_empty_instrument_types_are_well_formed(base_url: str) -> None:
    for inst_type in ("SPOT", "MARGIN", "OPTION"):
        r = httpx.get(f"{base_url}/api/v5/public/instruments", params={"instType": inst_type})
        assert r.json() == {"code": "0", "msg": "", "data": []}


# --- shared ---------------------------------------------------------------------------


def test_unknown_venue_paths_are_404_and_logged(
    base_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="perpwatch.emulator"):
        assert httpx.get(f"{base_url}/v5/market/orderbook").status_code == 404
        assert httpx.get(f"{base_url}/api/v5/market/books").status_code == 404
    assert "unsupported GET /v5/market/orderbook" in caplog.text
    assert "unsupported GET /api/v5/market/books" in caplog.text


async def test_latency_applies_to_every_venue() -> None:
    app = create_emulator_app(latency_ms=60, clock=CLOCK)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
        for path in ("/v5/market/time", "/api/v5/public/time"):
            start = time.perf_counter()
            r = await client.get(path)
            assert time.perf_counter() - start >= 0.06 and r.status_code == 200
        stats = (await client.get("/_emulator/stats")).json()
    assert stats["requests"] == {"/v5/market/time": 1, "/api/v5/public/time": 1}
