"""Binance's weight limits, enforced by the emulator and respected by perpwatch.

The emulator answers as Binance documents: ``X-MBX-USED-WEIGHT-<n><unit>`` on every answer,
429 with ``Retry-After`` over the limit, 418 (an IP ban that grows) for not backing off.
perpwatch (the real ccxt client over real HTTP) budgets from the exchange's own count and
honours 429 and 418 by pausing all its traffic.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx

from perpwatch.emulator import LimitConfig, create_emulator_app, running_emulator
from perpwatch.market.ccxt.market import CcxtMarket
from perpwatch.runtime import open_runtime
from perpwatch.settings import load_settings


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _limits(stats: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = stats["rate_limits"]
    return result


# --- the emulator (in-process, with a clock the test moves) ---------------------------


async def test_429_until_the_window_resets_then_418_bans_that_grow() -> None:
    clock = Clock(1_750_000_000.0)  # a window boundary
    limits = LimitConfig(
        weight_limit_per_min=10, window_s=2, ban_after=3, ban_base_s=4, ban_max_s=10
    )
    app = create_emulator_app(clock=clock, limits=limits)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu") as c:
        info = await c.get("/fapi/v1/exchangeInfo")
        weight = next(
            r for r in info.json()["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT"
        )
        assert (weight["interval"], weight["intervalNum"], weight["limit"]) == ("SECOND", 2, 10)
        assert info.headers["X-MBX-USED-WEIGHT-2S"] == "1"
        klines = {"symbol": "BTCUSDT", "interval": "15m", "limit": "499"}  # weight 2
        used = [
            (await c.get("/fapi/v1/klines", params=klines)).headers["X-MBX-USED-WEIGHT-2S"]
            for _ in range(4)
        ]
        assert used == ["3", "5", "7", "9"]
        assert (await c.get("/fapi/v1/ping")).status_code == 200  # 10: at the limit, not over

        clock.t += 0.5
        over = await c.get("/fapi/v1/ping")
        assert over.status_code == 429 and over.json()["code"] == -1003
        assert "Too much request weight used" in over.json()["msg"]
        assert over.headers["Retry-After"] == "2"  # 1.5 s until the window resets, rounded up
        assert over.headers["X-MBX-USED-WEIGHT-2S"] == "11"

        # not backing off: two more 429s, then the third request earns a 418 ban of 4 s
        clock.t += 0.1
        assert [(await c.get("/fapi/v1/ping")).status_code for _ in range(2)] == [429, 429]
        ban = await c.get("/fapi/v1/ping")
        assert ban.status_code == 418 and ban.headers["Retry-After"] == "4"
        assert "IP banned until" in ban.json()["msg"]
        clock.t += 3.0  # the weight window has reset, the ban has not
        during = await c.get("/fapi/v1/time")
        assert during.status_code == 418 and during.headers["Retry-After"] == "1"
        clock.t += 1.0  # ban over
        after = await c.get("/fapi/v1/ping")
        assert after.status_code == 200 and after.headers["X-MBX-USED-WEIGHT-2S"] == "1"

        async def earn_a_ban() -> str:
            for _ in range(20):
                r = await c.get("/fapi/v1/ticker/24hr")  # weight 40: over at once
                if r.status_code == 418:
                    return r.headers["Retry-After"]
            raise AssertionError("no ban")

        assert await earn_a_ban() == "8"  # repeat offender: twice as long
        clock.t += 8.0
        assert await earn_a_ban() == "10"  # then capped at ban_max_s
        stats = (await c.get("/_emulator/stats")).json()
    rl = _limits(stats)
    assert rl["bans"] == 3 and rl["responses_418"] == 4 and rl["sent_during_ban"] == 1
    assert rl["sent_during_backoff"] >= 3


async def test_limits_are_per_ip_and_can_be_switched_off() -> None:
    clock = Clock(1_750_000_000.0)
    app = create_emulator_app(clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emu") as c:
        r = await c.post("/_emulator/config", json={"use_weight": 2390, "ip": "10.9.9.9"})
        assert r.status_code == 200
        first = await c.get("/fapi/v1/ticker/24hr")  # weight 40, from 127.0.0.1
        assert first.status_code == 200 and first.headers["X-MBX-USED-WEIGHT-1M"] == "40"
        await c.post("/_emulator/config", json={"use_weight": 2350})  # our IP now: 2390
        assert (await c.get("/fapi/v1/ticker/24hr")).status_code == 429
        assert (await c.post("/_emulator/config", json={"limits": {"bogus": 1}})).status_code == 400
        await c.post("/_emulator/config", json={"limits": {"enabled": False}})
        codes = {(await c.get("/fapi/v1/ticker/24hr")).status_code for _ in range(5)}
        assert codes == {200}


# --- perpwatch against the enforcing emulator (real ccxt, real HTTP) -------------------


async def test_full_refresh_of_500_symbols_never_gets_a_429_with_1500_weight_pre_used() -> None:
    """Default settings and Binance's real limits (2400 per minute). Another process on the
    IP has used 1500 of this minute: 1500 + 1041 (the first load of 500 symbols) is over
    the limit, so perpwatch must stop short and wait for the minute to reset. The
    emulator's clock is set so its minute ends ~7 s in; perpwatch learns the exchange's
    clock from exchangeInfo's serverTime."""
    offset = (60 - time.time() % 60) - 9.0

    def exchange_clock() -> float:
        return time.time() + offset

    with running_emulator(n_symbols=500, clock=exchange_clock) as url:
        settings = load_settings(
            MARKET="binanceusdm",
            EXCHANGE_API_URL=url,
            REDIS_ENABLED=False,
            SYMBOLS_LIMIT=500,
            HAMA_SCHEDULER_AUTO_START=False,
            LOG_LEVEL="WARNING",
        )
        async with (
            open_runtime(settings, start_scheduler=False, with_tasks=False) as rt,
            httpx.AsyncClient(base_url=url) as emu,
        ):
            await emu.post("/_emulator/config", json={"use_weight": 1500})
            symbols = await rt.scheduler.resolve_symbols()
            run = await rt.scheduler.run_once(symbols)
            stats = (await emu.get("/_emulator/stats")).json()
            market = rt.market
            assert isinstance(market, CcxtMarket) and market.budget is not None
            budget = market.budget.as_json()
    rl = _limits(stats)
    assert (run.ok, run.failed) == (500, 0)
    assert rl["responses_429"] == 0 and rl["responses_418"] == 0
    assert stats["weight_total"] == 1 + 40 + 500 * 2  # exchangeInfo, tickers, klines(499)
    assert market.gate.pauses == 0
    assert budget["held_windows"] >= 1 and budget["limit"] == 2400
    first, *later = rl["windows"]
    assert 1500 + 600 < first["used"] <= 2400 * 0.9 + 2 * 16  # stopped at the ceiling
    assert sum(w["used"] for w in later) == 1500 + 1041 - first["used"]


async def test_a_429_pauses_all_traffic_until_the_window_resets() -> None:
    limits = LimitConfig(weight_limit_per_min=100, window_s=2, ban_after=3)
    with running_emulator(limits=limits) as url:
        emu = httpx.AsyncClient(base_url=url)
        await asyncio.sleep(2.0 - time.time() % 2)  # a window starts: 2 s of it are left
        await emu.post("/_emulator/config", json={"use_weight": 100})  # the IP is at its limit
        reset_at = math.floor(time.time() / 2) * 2 + 2
        market = CcxtMarket("binanceusdm", api_url=url, retries=2)
        try:
            contracts = await market.list_perpetuals()
            candles = await asyncio.gather(
                *(
                    market.fetch_candles(c.symbol, timeframe="15m", since_ms=None, limit=20)
                    for c in contracts[:8]
                )
            )
        finally:
            await market.close()
        done = time.time()
        stats = (await emu.get("/_emulator/stats")).json()
        await emu.aclose()
    rl = _limits(stats)
    assert len(contracts) == 160 and all(len(c) == 20 for c in candles)
    assert rl["responses_429"] == 1 and market.gate.pauses == 1
    assert rl["sent_during_backoff"] == 0 and rl["responses_418"] == 0
    assert done >= reset_at
    assert market.budget is not None  # learned from exchangeInfo once it got through
    assert (market.budget.limit, market.budget.window_s) == (100, 2.0)


async def test_a_418_ban_is_honoured_no_request_is_sent_during_it() -> None:
    limits = LimitConfig(weight_limit_per_min=100, window_s=2, ban_after=2, ban_base_s=3)
    with running_emulator(limits=limits) as url:
        hammer = httpx.AsyncClient(base_url=url)  # another process on the IP, not backing off
        while (await hammer.get("/fapi/v1/ticker/24hr")).status_code != 418:
            pass
        banned_at = time.monotonic()
        market = CcxtMarket("binanceusdm", api_url=url, retries=2)
        try:
            contracts = await market.list_perpetuals()
            candles = await asyncio.gather(
                *(
                    market.fetch_candles(c.symbol, timeframe="15m", since_ms=None, limit=20)
                    for c in contracts[:6]
                )
            )
        finally:
            await market.close()
        elapsed = time.monotonic() - banned_at
        stats = (await hammer.get("/_emulator/stats")).json()
        await hammer.aclose()
    rl = _limits(stats)
    assert rl["bans"] == 1 and all(len(c) == 20 for c in candles)
    # perpwatch's first request found the ban; after it, nothing until the ban ended
    assert rl["sent_during_ban"] == 1 and market.gate.pauses == 1
    assert elapsed >= 3.0 - 0.2
