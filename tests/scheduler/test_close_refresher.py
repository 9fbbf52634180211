"""Further timeframes (HAMA_TIMEFRAMES after the primary), refreshed at their candle closes,
against the simulated market and a real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis

from perpwatch.analysis.hama_signal import AnalysisInput, analyze
from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.market.sim.market import SimMarket
from perpwatch.redis_client import close_redis, open_redis
from perpwatch.runtime import hama_params, open_runtime
from perpwatch.scheduler.close_refresher import CloseClaims, CloseRefresher, last_close_ms
from perpwatch.scheduler.server_clock import ServerClock
from perpwatch.settings import load_settings
from perpwatch.timeutil import iso_ms

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def _settings(redis_url: str, **extra: object) -> Any:
    base: dict[str, object] = {
        "MARKET": "sim",
        "REDIS_URL": redis_url,
        "HAMA_SCHEDULER_AUTO_START": False,
        "HAMA_TIMEFRAMES": "15m,1h,4h",
        "SYMBOLS": ",".join(SYMBOLS),
        "LOG_LEVEL": "WARNING",
    }
    base.update(extra)
    return load_settings(**base)


@pytest.mark.parametrize(
    ("now_s", "tf_s", "delay_s", "offset_s", "close_s"),
    [
        (3600 * 10 + 5, 3600, 1.0, 0.0, 3600 * 10),  # 5 s after 10:00: that close
        (3600 * 10 + 0.5, 3600, 1.0, 0.0, 3600 * 9),  # before the delay: the one before
        (3600 * 10 - 1, 3600, 1.0, 2.0, 3600 * 10),  # the exchange is 2 s ahead
        (14400 * 3 + 100, 14400, 2.0, 0.0, 14400 * 3),
    ],
)
def test_last_close(
    now_s: float, tf_s: float, delay_s: float, offset_s: float, close_s: int
) -> None:
    got = last_close_ms(now_s, tf_s=tf_s, delay_s=delay_s, offset_s=offset_s)
    assert got == close_s * 1000


def test_the_first_timeframe_is_the_primary() -> None:
    s = load_settings(HAMA_TIMEFRAMES="1h,15m", MARKET="sim")
    assert s.hama_timeframe == "1h" and s.extra_timeframes == ["15m"]
    assert load_settings(MARKET="sim", HAMA_TIMEFRAME="5m").hama_timeframes == ["5m"]
    for bad in ("1h,7x", "1m,3m,5m,15m,30m,1h,2h"):  # unknown; more than 6
        with pytest.raises(Exception, match="HAMA_TIMEFRAMES"):
            load_settings(MARKET="sim", HAMA_TIMEFRAMES=bad)


async def test_a_close_refreshes_each_symbol_once_under_its_own_key(redis_url: str) -> None:
    settings = _settings(redis_url)
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    async with open_runtime(settings) as rt:
        assert list(rt.services) == ["15m", "1h", "4h"]
        hourly = next(x for x in rt.refreshers if x.timeframe == "1h")
        rt.scheduler.symbols = list(SYMBOLS)
        await rt.scheduler.start()  # the refreshers run only while the schedule does
        for _ in range(500):  # the primary's first run: its own fetches
            if rt.scheduler.last_run is not None:
                break
            await asyncio.sleep(0.02)
        close = last_close_ms(time.time(), tf_s=3600, delay_s=1.0, offset_s=0.0)
        assert isinstance(rt.market, SimMarket)
        calls_before = rt.market.calls["fetch_candles"]
        run = await hourly.turn(close, claim=True)
        assert run is not None
        assert (run.total, run.refreshed, run.current, run.failed) == (3, 3, 0, 0)
        assert run.candle_close == iso_ms(close)
        for s in SYMBOLS:
            doc = json.loads(r.get(f"hama:analysis:{s}:1h") or "{}")
            assert doc["timeframe"] == "1h" and doc["candle_close_time"] == iso_ms(close)
            assert r.ttl(f"hama:analysis:{s}:1h") > 3600  # lives until the next close
        # the same close again (a retry, or a new leader): nothing fetched, nothing written
        again = await hourly.turn(close, claim=False, catch_up=True)
        assert again is not None and (again.refreshed, again.current) == (0, 3)
        assert rt.market.calls["fetch_candles"] - calls_before == 3  # one per symbol
        # with Redis, a close is claimed: a rival leader does not run it as well
        client = open_redis(redis_url, cluster=False, socket_timeout_s=5)
        try:
            store = ScheduleStore(client)
            clock = ServerClock(rt.market.server_time_ms)
            rivals = [
                CloseRefresher(service=rt.services["1h"], symbols=lambda: list(SYMBOLS),
                               active=lambda: True, server_clock=clock, delay_s=1.0,
                               concurrency=2, claims=CloseClaims(store, owner))
                for owner in ("a", "b")
            ]  # fmt: skip
            nxt = close + 3_600_000  # (a close not claimed yet: a made-up future one)
            first = await rivals[0].turn(nxt, claim=True)
            assert first is not None and first.refreshed == 3
            assert await rivals[1].turn(nxt, claim=True) is None
        finally:
            await close_redis(client)
        # stopped schedule: no refresh of further timeframes either
        await rt.scheduler.stop()
        assert await hourly.turn(close + 7_200_000, claim=False) is None
        status = rt.scheduler.status()
        assert [t.timeframe for t in status.timeframes] == ["1h", "4h"]
        assert status.timeframes[0].last_run is not None
    r.close()


async def test_further_timeframes_match_the_pure_functions_on_their_candles(
    redis_url: str,
) -> None:
    """The 1h and 4h analyses are the same functions applied to those timeframes' own
    closed candles (from the same market), not a resample of the primary's."""
    settings = _settings(redis_url)
    async with open_runtime(settings) as rt:
        rt.scheduler.symbols = ["BTCUSDT"]
        await rt.scheduler.start()
        for tf, tf_s in (("1h", 3600), ("4h", 14400)):
            refresher = next(x for x in rt.refreshers if x.timeframe == tf)
            close = last_close_ms(time.time(), tf_s=tf_s, delay_s=1.0, offset_s=0.0)
            run = await refresher.turn(close, claim=False)
            assert run is not None and run.refreshed + run.current == 1
            cached = (await rt.services[tf].cached(["BTCUSDT"]))[0]
            assert cached is not None
            market = SimMarket(seed=settings.sim_seed, n_symbols=settings.sim_symbols)
            rows = await market.fetch_candles("BTCUSDT", timeframe=tf, since_ms=None,
                                              limit=settings.history_candles)  # fmt: skip
            closed = rows.closed_before(close + 1)
            assert int(closed.open_time[-1]) + tf_s * 1000 == close
            want = analyze(
                AnalysisInput(symbol="BTCUSDT", exchange="sim", timeframe=tf, closed=closed,
                              live_price=cached["hama_analysis"]["signals"]["realtime_price"],
                              price_time_ms=0, computed_at_ms=cached["timestamp_ms"]),
                hama_params(settings),
            ).model_dump(mode="json")  # fmt: skip
            got_h, want_h = cached["hama_analysis"], want["hama_analysis"]
            assert got_h["signals"]["ha_close"] == want_h["signals"]["ha_close"]
            assert got_h["signals"]["hama_ma"] == want_h["signals"]["hama_ma"]
            assert got_h["technical_indicators"] == want_h["technical_indicators"]
            assert got_h["recommendation"] == want_h["recommendation"]
            assert got_h["confidence"] == want_h["confidence"]
        await rt.scheduler.stop()
