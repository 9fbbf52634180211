"""Incremental candles: one full load, then only the new ones (weights counted at the emulator)."""

from __future__ import annotations

import httpx
import numpy as np

from perpwatch.emulator import running_emulator
from perpwatch.market.candle_store import CandleStore
from perpwatch.market.ccxt.market import CcxtMarket
from perpwatch.market.sim.market import SimMarket

TF_S = 900


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_first_load_then_incremental_with_request_weights() -> None:
    with running_emulator() as url:
        market = CcxtMarket("binanceusdm", api_url=url)
        store = CandleStore(market, timeframe="15m", history=499)
        try:
            async with httpx.AsyncClient(base_url=url) as emulator:
                await market.list_perpetuals()
                await emulator.post("/_emulator/reset")
                first = await store.snapshot("BTCUSDT")
                second = await store.snapshot("BTCUSDT")
                stats = (await emulator.get("/_emulator/stats")).json()
        finally:
            await market.close()
    limits = stats["klines_limits"]
    assert limits[0] == 499  # Binance weight 2 (<500)
    assert len(limits) == 2 and 1 <= limits[1] <= 2  # only the open candle (and maybe one more)
    assert stats["weight_by_path"]["/fapi/v1/klines"] == 2 + 1
    assert (store.full_loads, store.incremental_loads) == (1, 1)
    assert len(first.closed) == 498 and len(second.closed) >= 498


async def test_incremental_history_equals_a_fresh_load() -> None:
    clock = Clock(1_790_000_000.0 + 123.0)
    market = SimMarket(clock=clock)
    store = CandleStore(market, timeframe="15m", history=499, clock=clock)
    await store.snapshot("SOLUSDT")
    clock.t += 3 * TF_S + 40  # three more candles closed
    inc = await store.snapshot("SOLUSDT")
    assert (store.full_loads, store.incremental_loads) == (1, 1)

    fresh_store = CandleStore(SimMarket(clock=clock), timeframe="15m", history=499, clock=clock)
    fresh = await fresh_store.snapshot("SOLUSDT")
    np.testing.assert_array_equal(inc.closed.open_time, fresh.closed.open_time)
    np.testing.assert_array_equal(inc.closed.close, fresh.closed.close)
    np.testing.assert_array_equal(inc.closed.volume, fresh.closed.volume)
    assert inc.live_price == fresh.live_price
    # closed candles only: the last one closed at or before now
    assert inc.closed.open_time[-1] + 900_000 <= clock.t * 1000
    assert len(inc.closed) == 498


async def test_long_gap_reloads_in_full() -> None:
    clock = Clock(1_790_000_000.0)
    store = CandleStore(SimMarket(clock=clock), timeframe="15m", history=499, clock=clock)
    await store.snapshot("ETHUSDT")
    clock.t += 200 * TF_S  # more than one small request can fill
    snap = await store.snapshot("ETHUSDT")
    assert (store.full_loads, store.incremental_loads) == (2, 0)
    assert snap.closed.is_contiguous()
