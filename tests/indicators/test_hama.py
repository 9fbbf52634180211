from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import talib

from perpwatch.errors import InsufficientData
from perpwatch.indicators.hama import (
    HamaParams,
    HamaSeries,
    hama_series,
    hama_state,
    min_candles,
)
from perpwatch.types import FloatArray

from .conftest import Ohlcv

TINY = HamaParams(
    open_length=2,
    open_type="EMA",
    high_length=2,
    high_type="SMA",
    low_length=2,
    low_type="WMA",
    close_length=3,
    close_type="WMA",
    ma_length=3,
    ma_type="WMA",
    slope_bars=1,
)
# Every line is its own source; cc = (o+h+l+c)/4 and ma = close.
UNIT = HamaParams(
    open_length=1,
    high_length=1,
    low_length=1,
    close_length=1,
    ma_length=1,
    ma_type="SMA",
    slope_bars=1,
)


def _arr(*values: float) -> FloatArray:
    return np.array(values, dtype=np.float64)


def _series(ohlcv: Ohlcv, params: HamaParams, bars: int | None = None) -> HamaSeries:
    s = slice(0, bars)
    return hama_series(
        open=ohlcv.open[s],
        high=ohlcv.high[s],
        low=ohlcv.low[s],
        close=ohlcv.close[s],
        params=params,
    )


def test_tiny_case_by_hand() -> None:
    # The last close (16) is above the high (15): SourceHigh must use the close.
    series = hama_series(
        open=_arr(10, 11, 12, 11, 13),
        high=_arr(12, 13, 13, 14, 15),
        low=_arr(9, 10, 11, 10, 12),
        close=_arr(11, 12, 11, 13, 16),
        params=TINY,
    )
    nan = np.nan
    # SourceOpen = (open[1] + close[1]) / 2 = [nan, 10.5, 11.5, 11.5, 12]
    # EMA(2): alpha = 2/3, seeded at bar 2 with (10.5 + 11.5) / 2 = 11
    co3 = 11 + 2 / 3 * (11.5 - 11)  # 34/3
    co4 = co3 + 2 / 3 * (12 - co3)  # 106/9
    np.testing.assert_allclose(series.candle_open, [nan, nan, 11, co3, co4], rtol=1e-12)
    assert co4 == pytest.approx(106 / 9)
    # SourceHigh = max(high, close) = [12, 13, 13, 14, 16]; SMA(2)
    np.testing.assert_allclose(series.candle_high, [nan, 12.5, 13, 13.5, 15], rtol=1e-12)
    # SourceLow = min(low, close) = [9, 10, 11, 10, 12]; WMA(2) = (old + 2*new) / 3
    lows = [nan, (9 + 2 * 10) / 3, (10 + 2 * 11) / 3, (11 + 2 * 10) / 3, (10 + 2 * 12) / 3]
    np.testing.assert_allclose(series.candle_low, lows, rtol=1e-12)
    # SourceClose = (o+h+l+c)/4 = [10.5, 11.5, 11.75, 12, 14]; WMA(3) = (1*a + 2*b + 3*c) / 6
    cc = [nan, nan, (10.5 + 2 * 11.5 + 3 * 11.75) / 6, (11.5 + 2 * 11.75 + 3 * 12) / 6]
    cc.append((11.75 + 2 * 12 + 3 * 14) / 6)
    np.testing.assert_allclose(series.candle_close, cc, rtol=1e-12)
    # MA = WMA(3) of close = [nan, nan, 68/6, 73/6, 85/6]
    ma = [
        nan,
        nan,
        (11 + 2 * 12 + 3 * 11) / 6,
        (12 + 2 * 11 + 3 * 13) / 6,
        (11 + 2 * 13 + 3 * 16) / 6,
    ]
    np.testing.assert_allclose(series.ma, ma, rtol=1e-12)
    # cc > ma at bar 2 (first defined bar: not a cross), cc < ma at bars 3 and 4
    np.testing.assert_array_equal(series.cross_up, [False] * 5)
    np.testing.assert_array_equal(series.cross_down, [False, False, False, True, False])

    state = hama_state(series, TINY)
    assert min_candles(TINY) == 4  # max(2 + 1, 2, 2, 3, 3 + 1)
    assert state.candle_close == pytest.approx(77.75 / 6)
    assert state.ma == pytest.approx(85 / 6)
    assert state.deviation_pct == pytest.approx((85 - 77.75) * 100 / 85)  # 8.53
    assert state.last_cross_direction == -1
    assert state.last_cross_index == 3
    assert state.bars_since_cross == 1
    assert state.bearish and not state.bullish
    assert state.ma_slope_pct == pytest.approx((85 - 73) * 100 / 73)
    assert state.candle_open == pytest.approx(106 / 9)
    assert state.candle_high == 15.0


def test_crossover_and_crossunder_follow_pine() -> None:
    # With all lengths 1: cc = (o+h+l+c)/4 and ma = close.
    series = hama_series(
        open=_arr(100, 100, 100, 100, 100, 100),
        high=_arr(100, 104, 104, 100, 100, 100),
        low=_arr(100, 100, 100, 96, 100, 96),
        close=_arr(100, 100, 100, 100, 100, 100),
        params=UNIT,
    )
    np.testing.assert_allclose(series.candle_close, [100, 101, 101, 99, 100, 99])
    # bar 1: 101 > 100 after equality -> crossover; bar 3: 99 < 100 -> crossunder;
    # bar 4: equal -> nothing; bar 5: 99 < 100 after equality -> crossunder.
    np.testing.assert_array_equal(series.cross_up, [False, True, False, False, False, False])
    np.testing.assert_array_equal(series.cross_down, [False, False, False, True, False, True])
    state = hama_state(series, UNIT)
    assert (state.last_cross_direction, state.last_cross_index) == (-1, 5)
    assert state.bars_since_cross == 0  # cross on the last bar
    assert state.bearish  # 99 vs 100: deviation 1%


def _constructed(cc: list[float], ma: list[float], up: int | None, down: int | None) -> HamaSeries:
    size = len(cc)
    cross_up = np.zeros(size, dtype=np.bool_)
    cross_down = np.zeros(size, dtype=np.bool_)
    if up is not None:
        cross_up[up] = True
    if down is not None:
        cross_down[down] = True
    c = np.array(cc, dtype=np.float64)
    return HamaSeries(c, c, c, c, np.array(ma, dtype=np.float64), cross_up, cross_down)


P1 = HamaParams(slope_bars=1)


@pytest.mark.parametrize(
    ("last_cc", "up", "down", "bullish", "bearish"),
    [
        (1001.0, 1, None, True, False),  # deviation exactly 0.1 -> counts
        (1000.999, 1, None, False, False),  # 0.0999% -> too close to the MA
        (1005.0, 1, None, True, False),
        (995.0, 1, None, False, False),  # below the MA after an up cross
        (999.0, None, 1, False, True),  # deviation exactly 0.1 -> counts
        (999.001, None, 1, False, False),
        (1005.0, None, 1, False, False),  # above the MA after a down cross
        (1000.0, 0, 1, False, False),  # on the MA: deviation 0
        (1005.0, None, None, False, False),  # no cross at all
    ],
)
def test_bullish_bearish_rules(
    last_cc: float, up: int | None, down: int | None, bullish: bool, bearish: bool
) -> None:
    state = hama_state(_constructed([1000.0, last_cc], [990.0, 1000.0], up, down), P1)
    assert state.bullish is bullish
    assert state.bearish is bearish
    assert state.deviation_pct == pytest.approx(abs(last_cc - 1000.0) / 10.0)


def test_deviation_boundary_is_inclusive() -> None:
    state = hama_state(_constructed([1000.0, 1001.0], [990.0, 1000.0], 1, None), P1)
    assert state.deviation_pct == 0.1
    strict = dataclasses.replace(P1, min_deviation_pct=0.1000001)
    assert not hama_state(_constructed([1000.0, 1001.0], [990.0, 1000.0], 1, None), strict).bullish


def test_no_cross_and_slope() -> None:
    state = hama_state(_constructed([1000.0, 1005.0], [990.0, 1000.0], None, None), P1)
    assert state.last_cross_direction == 0
    assert state.last_cross_index is None and state.bars_since_cross is None
    assert state.ma_slope_pct == pytest.approx((1000.0 - 990.0) * 100 / 990.0)


def test_last_of_several_crosses_wins() -> None:
    cc = [1000.0] * 6
    ma = [990.0] * 6
    series = _constructed(cc, ma, up=1, down=3)
    series.cross_up[4] = True
    state = hama_state(series, P1)
    assert (state.last_cross_direction, state.last_cross_index, state.bars_since_cross) == (1, 4, 1)
    assert state.bullish


def test_open_nan_is_skipped_not_zero_filled(ohlcv: Ohlcv) -> None:
    params = HamaParams()
    series = _series(ohlcv, params)
    src_open = (ohlcv.open[:-1] + ohlcv.close[:-1]) / 2  # SourceOpen[1:]
    assert np.isnan(series.candle_open[:45]).all()
    # seeded at bar 45 with the SMA of SourceOpen bars 1..45
    assert series.candle_open[45] == pytest.approx(np.mean(src_open[:45]), rel=1e-12)
    zero_filled = np.mean(np.concatenate([[0.0], src_open[:44]]))
    assert abs(series.candle_open[45] - zero_filled) > 1.0
    # the rest of the lines equal TA-Lib's averages of the documented sources
    np.testing.assert_allclose(series.candle_open[45:], talib.EMA(src_open, 45)[44:], rtol=1e-9)
    src_close = (ohlcv.open + ohlcv.high + ohlcv.low + ohlcv.close) / 4
    np.testing.assert_allclose(series.candle_close[39:], talib.WMA(src_close, 40)[39:], rtol=1e-9)
    src_high = np.maximum(ohlcv.high, ohlcv.close)
    np.testing.assert_allclose(series.candle_high[19:], talib.EMA(src_high, 20)[19:], rtol=1e-9)
    np.testing.assert_allclose(series.ma[99:], talib.WMA(ohlcv.close, 100)[99:], rtol=1e-9)
    assert np.isnan(series.ma[:99]).all()


def test_sma_seed_converges_to_first_value_seed(ohlcv: Ohlcv) -> None:
    """Pine manual: an SMA-seeded EMA and one seeded with the first value agree
    after enough bars; for n=45 the difference is ~1e-11 relative by bar 490."""
    candle_open = _series(ohlcv, HamaParams()).candle_open
    src_open = (ohlcv.open[:-1] + ohlcv.close[:-1]) / 2
    alpha = 2 / 46
    first_seeded = np.full(ohlcv.open.shape, np.nan)
    first_seeded[1] = src_open[0]
    for i in range(2, ohlcv.open.shape[0]):
        first_seeded[i] = alpha * src_open[i - 1] + (1 - alpha) * first_seeded[i - 1]
    np.testing.assert_allclose(candle_open[490:], first_seeded[490:], rtol=1e-9)
    assert abs(candle_open[60] / first_seeded[60] - 1) > 1e-6  # seeding mattered early on


def test_min_candles_is_exact(ohlcv: Ohlcv) -> None:
    params = HamaParams()
    need = min_candles(params)
    assert need == 105  # WMA 100 + 5 slope bars
    hama_state(_series(ohlcv, params, need), params)
    with pytest.raises(InsufficientData, match="at least 105"):
        hama_state(_series(ohlcv, params, need - 1), params)


def test_min_candles_counts_the_open_nan(ohlcv: Ohlcv) -> None:
    params = HamaParams(open_length=150)
    assert min_candles(params) == 151
    hama_state(_series(ohlcv, params, 151), params)
    with pytest.raises(InsufficientData):
        hama_state(_series(ohlcv, params, 150), params)


def test_too_short_and_empty_raise(ohlcv: Ohlcv) -> None:
    with pytest.raises(InsufficientData):
        hama_state(_series(ohlcv, HamaParams(), 50), HamaParams())
    with pytest.raises(InsufficientData):
        hama_state(_series(ohlcv, HamaParams(), 0), HamaParams())


def test_constant_prices_do_not_crash() -> None:
    flat = np.full(200, 10.0)
    params = HamaParams()
    state = hama_state(
        hama_series(open=flat, high=flat, low=flat, close=flat, params=params), params
    )
    assert state.ma == pytest.approx(10.0) and state.candle_close == pytest.approx(10.0)
    assert state.last_cross_direction == 0 and not state.bullish and not state.bearish
    assert state.ma_slope_pct == pytest.approx(0.0, abs=1e-9)


def test_state_on_random_walk_is_consistent(ohlcv: Ohlcv) -> None:
    params = HamaParams()
    series = _series(ohlcv, params)
    state = hama_state(series, params)
    crosses = np.flatnonzero(series.cross_up | series.cross_down)
    assert crosses.size > 0
    assert state.last_cross_index == crosses[-1]
    assert state.bars_since_cross == ohlcv.close.shape[0] - 1 - crosses[-1]
    above = state.candle_close >= state.ma
    assert state.bullish == (
        state.last_cross_direction == 1 and above and state.deviation_pct >= 0.1
    )
    assert not (state.bullish and state.bearish)


@pytest.mark.parametrize(
    "kwargs",
    [{"open_length": 0}, {"ma_type": "HMA"}, {"slope_bars": 0}, {"min_deviation_pct": -1.0}],
)
def test_invalid_params(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        HamaParams(**kwargs)  # type: ignore[arg-type]


def test_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        hama_series(open=np.ones(5), high=np.ones(5), low=np.ones(4), close=np.ones(5), params=UNIT)
