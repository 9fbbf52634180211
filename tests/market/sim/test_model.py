"""The deterministic simulator: purity, candle consistency, universe shape, funding, speed."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from perpwatch.errors import UnknownSymbol
from perpwatch.market.sim.model import (
    SimUniverse,
    sim_candles,
    sim_funding,
    sim_funding_rate,
    sim_last_price,
    sim_ticker_24h,
)
from perpwatch.market.types import Candles

TF = 900_000  # 15m
T0 = 1_750_000_000_000 // TF * TF  # a fixed candle boundary (June 2025)
U = SimUniverse(42, 160)


def _candles(symbol: str, start: int, count: int, now: int | None = None) -> Candles:
    return sim_candles(U, symbol, timeframe_ms=TF, start_open_ms=start, count=count, now_ms=now)


def _wma(x: np.ndarray, n: int) -> float:
    w = np.arange(1, n + 1, dtype=np.float64)
    return float(np.dot(x[-n:], w) / w.sum())


# --- universe -------------------------------------------------------------------------


def test_universe_has_at_least_150_real_looking_usdt_perpetuals() -> None:
    names = [s.symbol for s in U]
    assert len(names) == len(set(names)) == 160
    assert all(n.endswith("USDT") and n.isalnum() and n.isupper() for n in names)
    assert {"BTCUSDT", "ETHUSDT", "SOLUSDT", "1000PEPEUSDT"} <= set(names)
    assert U.get("BTCUSDT").ccxt_symbol == "BTC/USDT:USDT"
    assert "BTCUSDT" in U and "NOPEUSDT" not in U


def test_universe_size_is_configurable_and_has_a_floor() -> None:
    assert len(SimUniverse(7, 300)) == 300
    with pytest.raises(ValueError, match="150"):
        SimUniverse(42, 149)


def test_price_scales_are_realistic() -> None:
    price = {s.symbol: s.price0 for s in U}
    assert 60_000 <= price["BTCUSDT"] <= 100_000
    assert 2_000 <= price["ETHUSDT"] <= 4_000
    small = [p for p in price.values() if p < 10]
    assert len(small) > 100 and min(small) >= 0.0001


def test_funding_intervals_mix_1h_4h_8h() -> None:
    counts = Counter(s.funding_interval_h for s in U)
    assert set(counts) == {1, 4, 8}
    assert counts[1] >= 5 and counts[4] >= 20 and counts[8] > counts[4]
    assert U.get("BTCUSDT").funding_interval_h == 8


def test_unknown_symbol_raises() -> None:
    with pytest.raises(UnknownSymbol):
        _candles("NOPEUSDT", T0, 5)
    with pytest.raises(UnknownSymbol):
        sim_funding(U, "NOPEUSDT", T0)


# --- candles --------------------------------------------------------------------------


def test_same_candle_whichever_range_asks_for_it() -> None:
    a = _candles("ETHUSDT", T0, 300)
    b = _candles("ETHUSDT", T0 + 100 * TF, 300)
    one = _candles("ETHUSDT", T0 + 250 * TF, 1)
    for field in ("open_time", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(a, field)[100:], getattr(b, field)[:200])
        assert getattr(one, field)[0] == getattr(a, field)[250]


def test_same_seed_same_market_other_seed_other_market() -> None:
    again = sim_candles(
        SimUniverse(42, 160), "SOLUSDT", timeframe_ms=TF, start_open_ms=T0, count=50
    )
    other = sim_candles(
        SimUniverse(43, 160), "SOLUSDT", timeframe_ms=TF, start_open_ms=T0, count=50
    )
    np.testing.assert_array_equal(_candles("SOLUSDT", T0, 50).close, again.close)
    assert not np.array_equal(again.close, other.close)


@pytest.mark.parametrize("symbol", ["BTCUSDT", "DOGEUSDT", "1000PEPEUSDT", U.symbols[-1].symbol])
def test_ohlc_consistency(symbol: str) -> None:
    c = _candles(symbol, T0, 499)
    assert len(c) == 499 and c.is_contiguous() and c.open_time[0] == T0
    np.testing.assert_array_equal(c.open[1:], c.close[:-1])
    assert np.all(c.high >= np.maximum(c.open, c.close))
    assert np.all(c.low <= np.minimum(c.open, c.close))
    assert np.all(c.low > 0) and np.all(c.volume > 0)
    assert np.any(c.high > np.maximum(c.open, c.close))  # wicks exist
    moves = np.abs(np.diff(np.log(c.close)))
    assert 0.0003 < float(np.median(moves)) < 0.01  # realistic 15m moves


def test_open_candle_is_partial_and_closes_every_timeframe() -> None:
    now = T0 + 498 * TF + 5 * 60_000  # five minutes into the 499th candle
    c = _candles("BTCUSDT", T0, 600, now)
    assert len(c) == 499 and c.open_time[-1] == T0 + 498 * TF
    assert c.close[-1] == sim_last_price(U, "BTCUSDT", now)
    assert c.high[-1] == max(c.open[-1], c.close[-1]) and c.low[-1] == min(c.open[-1], c.close[-1])
    closed = _candles("BTCUSDT", T0, 498)
    np.testing.assert_array_equal(c.close[:-1], closed.close)
    np.testing.assert_array_equal(c.high[:-1], closed.high)
    later = _candles("BTCUSDT", T0, 600, now + TF)  # one timeframe on: one more candle
    assert len(later) == 500 and later.closed_before(now + TF).open_time[-1] == T0 + 498 * TF
    full = _candles("BTCUSDT", T0 + 498 * TF, 1)
    assert later.close[498] == full.close[0] and later.high[498] == full.high[0]
    assert later.volume[498] == full.volume[0] > c.volume[-1]


def test_future_candles_are_not_served() -> None:
    assert len(_candles("BTCUSDT", T0 + TF, 10, now=T0)) == 0
    with pytest.raises(ValueError, match="multiple"):
        _candles("BTCUSDT", T0 + 1, 10)


@pytest.mark.parametrize("now", [T0, T0 + 3 * 86_400_000 + 7 * TF, T0 + 41 * 86_400_000])
def test_buy_sell_and_hold_conditions_all_occur(now: int) -> None:
    """The HAMA signal compares WMA40((o+h+l+c)/4) with WMA100(close): every bucket occurs."""
    buckets: Counter[str] = Counter()
    for s in U:
        c = _candles(s.symbol, now - 498 * TF, 499, now).closed_before(now)
        ratio = _wma((c.open + c.high + c.low + c.close) / 4, 40) / _wma(c.close, 100) - 1
        buckets["above" if ratio > 0.001 else "below" if ratio < -0.001 else "within"] += 1
    assert min(buckets["above"], buckets["below"], buckets["within"]) >= 10, buckets


def test_500_candles_are_fast() -> None:
    start = time.perf_counter()
    for i in range(50):
        _candles("BTCUSDT", T0 + i * TF, 500, now=T0 + 600 * TF)
    per_call_ms = (time.perf_counter() - start) / 50 * 1000
    assert per_call_ms < 5.0


# --- 24h ticker and funding -----------------------------------------------------------


def test_ticker_24h_is_consistent_with_the_path() -> None:
    now = T0 + 123_456
    t = sim_ticker_24h(U, "ETHUSDT", now)
    assert t.last == sim_last_price(U, "ETHUSDT", now)
    assert t.open == sim_last_price(U, "ETHUSDT", now - 86_400_000)
    assert t.high >= max(t.open, t.last) and t.low <= min(t.open, t.last)
    assert t.low < t.quote_volume / t.volume < t.high
    assert (t.open_time_ms, t.close_time_ms) == (now - 86_400_000, now)
    volumes = {s.symbol: sim_ticker_24h(U, s.symbol, now).quote_volume for s in U}
    assert max(volumes, key=lambda k: volumes[k]) == "BTCUSDT"
    assert 5e9 < volumes["BTCUSDT"] < 5e10


def test_funding_state() -> None:
    now = T0 + 1_234_567
    rates = [sim_funding(U, s.symbol, now) for s in U]
    assert all(-0.0005 <= r.funding_rate <= 0.001 for r in rates)
    assert Counter(r.funding_rate for r in rates).most_common(1)[0][0] == 0.0001
    assert any(r.funding_rate < 0 for r in rates)
    for r in rates:
        interval_ms = r.funding_interval_h * 3_600_000
        assert r.next_funding_time_ms % interval_ms == 0
        assert now < r.next_funding_time_ms <= now + interval_ms
        assert r.exchange == "sim" and r.timestamp_ms == now
        assert abs(r.index_price / r.mark_price - 1) < 0.001
    btc = sim_funding(U, "BTCUSDT", now)
    assert datetime.fromtimestamp(btc.next_funding_time_ms / 1000, UTC).hour in (0, 8, 16)
    assert btc.mark_price == pytest.approx(sim_last_price(U, "BTCUSDT", now), rel=1e-5)
    assert btc == sim_funding(U, "BTCUSDT", now)


def test_funding_rate_is_fixed_per_period() -> None:
    interval_ms = 8 * 3_600_000
    period = T0 // interval_ms
    rate = sim_funding_rate(U, "BTCUSDT", period)
    assert sim_funding(U, "BTCUSDT", period * interval_ms).funding_rate == rate
    assert sim_funding(U, "BTCUSDT", (period + 1) * interval_ms - 1).funding_rate == rate
    series = {sim_funding_rate(U, "BTCUSDT", p) for p in range(period, period + 60)}
    assert len(series) > 5  # it moves from period to period
