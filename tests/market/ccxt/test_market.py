"""The ccxt adapter: the real ccxt binanceusdm client against the emulator on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import pytest

from perpwatch.emulator import create_emulator_app, running_emulator
from perpwatch.errors import PermanentExchangeError, TemporaryExchangeError, UnknownSymbol
from perpwatch.market.ccxt.market import CcxtMarket, rewrite_api_urls
from tests.support.http_server import serve_app

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    with running_emulator() as url:
        yield url


def test_rewrite_keeps_paths() -> None:
    urls = {
        "fapiPublic": "https://fapi.binance.com/fapi/v1",
        "nested": {"public": "https://api.{hostname}/v5"},
        "n": 3,
    }
    assert rewrite_api_urls(urls, "http://127.0.0.1:9/") == {
        "fapiPublic": "http://127.0.0.1:9/fapi/v1",
        "nested": {"public": "http://127.0.0.1:9/v5"},
        "n": 3,
    }


async def test_lists_only_trading_usdt_perpetuals_by_volume(emulator_url: str) -> None:
    market = CcxtMarket("binanceusdm", api_url=emulator_url)
    try:
        contracts = await market.list_perpetuals()
    finally:
        await market.close()
    names = [c.symbol for c in contracts]
    assert len(names) == 160 and len(set(names)) == 160
    assert names[0] == "BTCUSDT"
    # quarterly, USDC-margined, settling and pre-trading contracts are filtered out
    assert "BTCUSDC" not in names and "FTTUSDT" not in names and "PUMPUSDT" not in names
    assert all(not n.startswith("BTCUSDT_") for n in names)
    volumes = [c.quote_volume_24h for c in contracts]
    assert volumes == sorted(volumes, reverse=True) and volumes[0] > 0
    assert contracts[0].ccxt_symbol == "BTC/USDT:USDT"


async def test_candles_and_unknown_symbol(emulator_url: str) -> None:
    market = CcxtMarket("binanceusdm", api_url=emulator_url)
    try:
        candles = await market.fetch_candles("ETHUSDT", timeframe="15m", since_ms=None, limit=499)
        assert len(candles) == 499 and candles.is_contiguous()
        assert candles.timeframe_ms == 900_000
        with pytest.raises(UnknownSymbol):
            await market.fetch_candles("NOSUCHUSDT", timeframe="15m", since_ms=None, limit=5)
    finally:
        await market.close()


def _failing_first(
    app: ASGIApp, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]], times: int
) -> tuple[ASGIApp, list[float]]:
    """Wrap ``app`` so its first ``times`` API requests get ``status`` instead (real HTTP)."""
    seen: list[float] = []

    async def wrapped(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fapi/"):
            seen.append(time.monotonic())
            if len(seen) <= times:
                payload = json.dumps(body).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [(b"content-type", b"application/json"), *headers],
                    }
                )
                await send({"type": "http.response.body", "body": payload})
                return
        await app(scope, receive, send)

    return wrapped, seen


async def test_429_pauses_for_retry_after_then_resumes() -> None:
    app, seen = _failing_first(
        create_emulator_app(),
        429,
        {"code": -1003, "msg": "Too many requests."},
        [(b"retry-after", b"1")],
        times=1,
    )
    with serve_app(app) as url:
        market = CcxtMarket("binanceusdm", api_url=url, retries=2)
        try:
            contracts = await market.list_perpetuals()
        finally:
            await market.close()
    assert len(contracts) == 160
    assert market.gate.pauses == 1
    assert seen[1] - seen[0] >= 0.95  # waited the Retry-After before the next request


async def test_binance_503_is_temporary_and_retried() -> None:
    app, seen = _failing_first(
        create_emulator_app(),
        503,
        {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
        [],
        times=2,
    )
    with serve_app(app) as url:
        market = CcxtMarket("binanceusdm", api_url=url, retries=3)
        try:
            candles = await market.fetch_candles(
                "BTCUSDT", timeframe="15m", since_ms=None, limit=10
            )
        finally:
            await market.close()
    assert len(candles) == 10
    assert len(seen) >= 4  # two failures of exchangeInfo, then exchangeInfo and klines


async def test_unreachable_exchange_is_a_temporary_error_after_retries() -> None:
    with running_emulator() as url:
        dead = url  # the port is closed once the emulator stops
    market = CcxtMarket("binanceusdm", api_url=dead, retries=1, timeout_s=2)
    try:
        with pytest.raises(TemporaryExchangeError):
            await market.list_perpetuals()
    finally:
        await market.close()


async def test_a_rejected_request_is_permanent_and_not_retried() -> None:
    app, seen = _failing_first(
        create_emulator_app(),
        400,
        {"code": -1102, "msg": "Mandatory parameter 'symbol' was not sent."},
        [],
        times=1,
    )
    with serve_app(app) as url:
        market = CcxtMarket("binanceusdm", api_url=url, retries=3)
        try:
            with pytest.raises(PermanentExchangeError):
                await market.list_perpetuals()
        finally:
            await market.close()
    assert len(seen) == 1
