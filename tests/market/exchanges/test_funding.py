"""Funding snapshots via CcxtMarket + ccxt + the emulator; adapter honesty."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from perpwatch.emulator import create_emulator_app, running_emulator
from perpwatch.errors import PermanentExchangeError
from perpwatch.market.ccxt.market import CcxtMarket
from perpwatch.market.exchanges import binance, bybit, okx
from perpwatch.market.sim.model import SimUniverse, sim_funding
from perpwatch.market.sim.venues import VENUES, venue_symbols
from perpwatch.market.types import Contract
from tests.support.http_server import serve_app

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]
U = SimUniverse(42, 160)
HOUR_MS = 3_600_000
NOW_MS = 1_750_000_000_000 + 7 * 60_000 + 250
FUNDING_REQUESTS = {
    "binanceusdm": {"/fapi/v1/premiumIndex": 1, "/fapi/v1/fundingInfo": 1},
    "bybit": {"/v5/market/tickers": 1},
    "okx": {"/api/v5/public/funding-rate": 1, "/api/v5/public/mark-price": 1,
            "/api/v5/market/index-tickers": 1},
}  # fmt: skip
MARKETS_REQUESTS = {  # bybit: linear + linear status=PreLaunch; okx: instType=SWAP
    "binanceusdm": {"/fapi/v1/exchangeInfo": 1}, "bybit": {"/v5/market/instruments-info": 2},
    "okx": {"/api/v5/public/instruments": 1}}  # fmt: skip


def clock() -> float:
    return NOW_MS / 1000


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_emulator(clock=clock) as url:
        yield url


def _requests(base_url: str, *, reset: bool = False) -> dict[str, int]:
    out: dict[str, int] = httpx.get(f"{base_url}/_emulator/stats").json()["requests"]
    if reset:
        httpx.post(f"{base_url}/_emulator/reset").raise_for_status()
    return out


@asynccontextmanager
async def _market(exchange: str, url: str, retries: int = 3) -> AsyncIterator[CcxtMarket]:
    market = CcxtMarket(exchange, api_url=url, retries=retries)
    market.client.timeout_on_exit = 0  # plain HTTP on loopback: no TLS shutdown to wait for
    try:
        yield market
    finally:
        await market.close()


def _wire(x: float, venue: str, symbol: str) -> float:
    """``x`` as the venue's emulator writes it: Binance 8 decimals, the others at the tick."""
    decimals = 8 if venue == "binanceusdm" else U.get(symbol).price_decimals
    return float(f"{x:.{decimals}f}")


# --- CcxtMarket.fetch_funding_rates against the emulator ------------------------------


@pytest.mark.parametrize("venue", VENUES)
async def test_funding_snapshot_is_the_venues_simulated_state(venue: str, base_url: str) -> None:
    _requests(base_url, reset=True)
    async with _market(venue, base_url) as market:
        contracts = await market.contracts()
        assert _requests(base_url, reset=True) == MARKETS_REQUESTS[venue]
        rates = await market.fetch_funding_rates()
        assert _requests(base_url) == FUNDING_REQUESTS[venue]  # all symbols at once
    listed = venue_symbols(U, venue)
    assert set(contracts) == set(listed)  # quarterly, USDC, inverse, halted: filtered out
    assert sorted(r.symbol for r in rates) == sorted(listed)  # nothing skipped, no extras
    assert {r.funding_interval_h for r in rates} == {1, 4, 8}
    for r in rates:
        sim = sim_funding(U, r.symbol, NOW_MS, venue)
        interval_ms = r.funding_interval_h * HOUR_MS
        assert r.exchange == venue and r.timestamp_ms == NOW_MS
        assert r.funding_interval_h == sim.funding_interval_h
        assert NOW_MS < r.next_funding_time_ms <= NOW_MS + interval_ms
        assert r.next_funding_time_ms % interval_ms == 0
        assert r.next_funding_time_ms == sim.next_funding_time_ms
        assert r.funding_rate == sim.funding_rate
        assert r.mark_price == _wire(sim.mark_price, venue, r.symbol) > 0
        assert r.index_price == _wire(sim.index_price, venue, r.symbol) > 0
        assert r.raw and r.interval_source


async def test_interval_sources_say_where_each_interval_came_from(base_url: str) -> None:
    async with _market("binanceusdm", base_url) as market:
        rates = {r.symbol: r for r in await market.fetch_funding_rates()}
    adjusted = {s.symbol for s in U if s.funding_interval_h != 8}
    assert {n for n, r in rates.items() if r.interval_source == "fundingInfo"} == adjusted
    btc = rates["BTCUSDT"]
    assert btc.interval_source is not None and "standard 8h" in btc.interval_source
    assert btc.raw is not None and btc.raw["fundingInfo"] is None
    assert btc.raw["premiumIndex"]["nextFundingTime"] == btc.next_funding_time_ms


def _failing(app: ASGIApp, path: str, status: int, body: bytes, times: int) -> tuple[
    ASGIApp, list[str]]:  # fmt: skip
    """Wrap ``app`` so its first ``times`` requests to ``path`` get ``status`` and ``body``."""
    seen: list[str] = []

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == path:
            seen.append(path)
            if len(seen) <= times:
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped, seen


async def test_a_503_is_retried_through_ccxt_market() -> None:
    app, seen = _failing(create_emulator_app(clock=clock), "/v5/market/tickers", 503, b"", 1)
    with serve_app(app) as url:
        async with _market("bybit", url, retries=2) as market:
            rates = await market.fetch_funding_rates()
    assert len(rates) == len(venue_symbols(U, "bybit")) and len(seen) == 2


async def test_a_rejection_is_permanent_and_not_retried() -> None:
    body = json.dumps({"code": "50014", "msg": "Parameter instId can not be empty.", "data": []})
    app, seen = _failing(
        create_emulator_app(clock=clock), "/api/v5/public/funding-rate", 400, body.encode(), 1
    )
    with serve_app(app) as url:
        async with _market("okx", url, retries=3) as market:
            with pytest.raises(PermanentExchangeError, match="okx funding rates"):
                await market.fetch_funding_rates()
    assert len(seen) == 1


async def test_an_exchange_without_adapter_is_refused_before_any_request() -> None:
    async with _market("kraken", "http://127.0.0.1:9") as market:  # nothing listens there
        with pytest.raises(PermanentExchangeError, match="no funding adapter"):
            await market.fetch_funding_rates()


# --- the adapters' honesty rules, on hand-made exchange answers -----------------------


class FakeClient:
    """The ccxt calls the adapters make, answering canned structures."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.markets: dict[str, Any] = answers.get("markets", {})

    async def fetch_funding_rates(self) -> Any:
        return self.answers["rates"]

    async def fetch_funding_intervals(self) -> Any:
        return self.answers["intervals"]

    async def fetch_mark_prices(self) -> Any:
        return self.answers["marks"]

    async def public_get_market_index_tickers(self, params: dict[str, str]) -> Any:
        assert params == {"quoteCcy": "USDT"}
        return {"code": "0", "msg": "", "data": self.answers["index"]}


def _contracts(exchange: str, *bases: str) -> dict[str, Contract]:
    return {f"{b}USDT": Contract(f"{b}USDT", exchange, f"{b}/USDT:USDT", b, "USDT", 0.0)
            for b in bases}  # fmt: skip


T8 = 1_750_003_200_000  # 16:00 UTC, on the 8h grid


def _premium(base: str, next_ms: int, mark: str = "10.5") -> dict[str, Any]:
    return {"info": {"symbol": f"{base}USDT", "markPrice": mark, "indexPrice": "10.4",
                     "lastFundingRate": "0.00010000", "nextFundingTime": next_ms,
                     "time": NOW_MS}}  # fmt: skip


async def test_binance_skips_what_it_cannot_state_honestly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    contracts = _contracts("binanceusdm", "HA", "HB", "HC", "HD", "HE")
    rates = {f"{b}/USDT:USDT": _premium(b, T8) for b in ("HA", "HB", "HD")}
    rates["HC/USDT:USDT"] = _premium("HC", T8 - 4 * HOUR_MS)  # 12:00: not an 8h settlement
    rates["HD/USDT:USDT"] = _premium("HD", T8, mark="")  # no mark price
    intervals = {"HA/USDT:USDT": {"info": {"symbol": "HAUSDT", "fundingIntervalHours": 4}}}
    client = FakeClient(rates=rates, intervals=intervals)
    with caplog.at_level(logging.WARNING, logger="perpwatch.market.exchanges"):
        out = {r.symbol: r for r in await binance.fetch_funding(client, contracts)}
        await binance.fetch_funding(client, contracts)  # the same skips are not logged again
    assert set(out) == {"HAUSDT", "HBUSDT"}
    assert (out["HAUSDT"].funding_interval_h, out["HAUSDT"].interval_source) == (4, "fundingInfo")
    assert out["HBUSDT"].funding_interval_h == 8 and out["HBUSDT"].next_funding_time_ms == T8
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert any("HCUSDT" in m and "off the standard 8h grid" in m for m in lines)
    assert any("HDUSDT" in m and "mark price" in m for m in lines)
    assert any("HEUSDT" in m and "not in premiumIndex" in m for m in lines)


async def test_bybit_interval_from_the_ticker_else_the_loaded_instrument_else_skip() -> None:
    contracts = _contracts("bybit", "YA", "YB", "YC")
    ticker = {"fundingRate": "-0.0002", "nextFundingTime": str(T8), "markPrice": "2.5",
              "indexPrice": "2.49", "fundingIntervalHour": "1"}  # fmt: skip
    rates = {
        "YA/USDT:USDT": {"info": ticker, "timestamp": NOW_MS},
        "YB/USDT:USDT": {"info": {**ticker, "fundingIntervalHour": ""}, "timestamp": NOW_MS},
        "YC/USDT:USDT": {"info": {**ticker, "fundingIntervalHour": ""}, "timestamp": NOW_MS},
    }
    markets = {"YB/USDT:USDT": {"info": {"fundingInterval": 240}},
               "YC/USDT:USDT": {"info": {"fundingInterval": 0}}}  # fmt: skip
    client = FakeClient(rates=rates, markets=markets)
    out = {r.symbol: r for r in await bybit.fetch_funding(client, contracts)}
    assert set(out) == {"YAUSDT", "YBUSDT"}
    assert out["YAUSDT"].funding_interval_h == 1 and out["YAUSDT"].funding_rate == -0.0002
    assert out["YBUSDT"].funding_interval_h == 4
    assert out["YBUSDT"].interval_source == "instruments-info.fundingInterval (at market load)"


async def test_okx_interval_is_the_gap_between_settlements_and_prices_must_exist() -> None:
    contracts = _contracts("okx", "OA", "OB", "OC")

    def funding(base: str, gap_ms: int) -> dict[str, Any]:
        return {"info": {"instId": f"{base}-USDT-SWAP", "fundingRate": "0.0003",
                         "fundingTime": str(T8), "nextFundingTime": str(T8 + gap_ms),
                         "ts": str(NOW_MS)}}  # fmt: skip

    rates = {"OA/USDT:USDT": funding("OA", 2 * HOUR_MS), "OB/USDT:USDT": funding("OB", 0),
             "OC/USDT:USDT": funding("OC", 8 * HOUR_MS)}  # fmt: skip
    marks = {f"{b}/USDT:USDT": {"info": {"markPx": "1.5"}} for b in ("OA", "OB", "OC")}
    index = [{"instId": f"{b}-USDT", "idxPx": "1.49"} for b in ("OA", "OB")]  # none for OC
    client = FakeClient(rates=rates, marks=marks, index=index)
    out = {r.symbol: r for r in await okx.fetch_funding(client, contracts)}
    assert set(out) == {"OAUSDT"}  # OB: no interval (gap 0); OC: no index price
    assert out["OAUSDT"].funding_interval_h == 2  # as OKX states it, not rounded to 1/4/8
    assert out["OAUSDT"].next_funding_time_ms == T8 and out["OAUSDT"].index_price == 1.49
