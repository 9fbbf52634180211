"""SimMarket: the MarketData port over the simulator, driven by an injected clock."""

from __future__ import annotations

import numpy as np
import pytest

from perpwatch.errors import UnknownSymbol
from perpwatch.market.sim.market import SimMarket
from perpwatch.market.sim.model import sim_candles, sim_last_price
from perpwatch.market.types import FundingRate

TF = 900_000


class Clock:
    """A hand-moved clock in epoch seconds."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock(1_750_000_000.0 + 7 * 60 + 0.25)  # 7 minutes into a 15m candle


@pytest.fixture
def market(clock: Clock) -> SimMarket:
    return SimMarket(seed=42, n_symbols=160, clock=clock)


async def test_name_and_close(market: SimMarket) -> None:
    assert market.name == "sim"
    await market.close()
    assert market.calls["close"] == 1


async def test_list_perpetuals_sorted_by_quote_volume(market: SimMarket) -> None:
    contracts = await market.list_perpetuals()
    assert len(contracts) == 160
    assert contracts[0].symbol == "BTCUSDT" and contracts[0].ccxt_symbol == "BTC/USDT:USDT"
    volumes = [c.quote_volume_24h for c in contracts]
    assert volumes == sorted(volumes, reverse=True) and volumes[-1] > 0
    assert all(c.exchange == "sim" and c.quote == "USDT" for c in contracts)
    assert all(c.symbol == f"{c.base}USDT" for c in contracts)
    assert market.calls["list_perpetuals"] == 1


async def test_most_recent_candles_end_with_the_open_one(market: SimMarket, clock: Clock) -> None:
    now_ms = int(clock.t * 1000)
    c = await market.fetch_candles("BTCUSDT", timeframe="15m", since_ms=None, limit=499)
    assert len(c) == 499 and c.is_contiguous() and c.timeframe_ms == TF
    assert c.open_time[-1] == now_ms // TF * TF
    assert c.close[-1] == sim_last_price(market.universe, "BTCUSDT", now_ms)
    assert len(c.closed_before(now_ms)) == 498


async def test_since_is_rounded_up_to_a_candle_boundary(market: SimMarket, clock: Clock) -> None:
    now_ms = int(clock.t * 1000)
    since = now_ms // TF * TF - 10 * TF - 1
    c = await market.fetch_candles("ETHUSDT", timeframe="15m", since_ms=since, limit=1000)
    assert c.open_time[0] == since + 1 and len(c) == 11
    few = await market.fetch_candles("ETHUSDT", timeframe="15m", since_ms=since, limit=3)
    np.testing.assert_array_equal(few.close, c.close[:3])
    future = await market.fetch_candles("ETHUSDT", timeframe="15m", since_ms=now_ms + TF, limit=5)
    assert len(future) == 0


async def test_incremental_fetch_matches_a_full_fetch(market: SimMarket, clock: Clock) -> None:
    held = await market.fetch_candles("SOLUSDT", timeframe="15m", since_ms=None, limit=499)
    clock.t += 15 * 60  # one candle later
    served_before = market.candles_served
    new = await market.fetch_candles(
        "SOLUSDT", timeframe="15m", since_ms=int(held.open_time[-1]), limit=499
    )
    assert len(new) == 2 and market.candles_served - served_before == 2
    merged = held.merge(new, keep_last=499)
    fresh = await market.fetch_candles("SOLUSDT", timeframe="15m", since_ms=None, limit=499)
    for field in ("open_time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(merged, field), getattr(fresh, field))
    assert market.calls["fetch_candles"] == 3


async def test_candles_are_the_simulators(market: SimMarket, clock: Clock) -> None:
    c = await market.fetch_candles("DOGEUSDT", timeframe="1h", since_ms=None, limit=24)
    start = int(c.open_time[0])
    direct = sim_candles(market.universe, "DOGEUSDT", timeframe_ms=3_600_000,
                         start_open_ms=start, count=23)  # fmt: skip
    np.testing.assert_array_equal(c.close[:-1], direct.close)


async def test_symbol_spellings_and_unknown_symbols(market: SimMarket) -> None:
    c = await market.fetch_candles("BTC/USDT:USDT", timeframe="15m", since_ms=None, limit=2)
    assert len(c) == 2
    with pytest.raises(UnknownSymbol):
        await market.fetch_candles("NOPEUSDT", timeframe="15m", since_ms=None, limit=2)
    with pytest.raises(UnknownSymbol):
        await market.fetch_candles("bad symbol!", timeframe="15m", since_ms=None, limit=2)


async def test_funding_rates_for_every_contract(market: SimMarket, clock: Clock) -> None:
    rates = await market.fetch_funding_rates()
    assert len(rates) == 160 and all(isinstance(r, FundingRate) for r in rates)
    assert {r.funding_interval_h for r in rates} == {1, 4, 8}
    assert all(r.timestamp_ms == int(clock.t * 1000) for r in rates)
    assert market.calls["fetch_funding_rates"] == 1
