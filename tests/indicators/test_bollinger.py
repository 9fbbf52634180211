from __future__ import annotations

import numpy as np
import pytest
import talib

from perpwatch.errors import InsufficientData
from perpwatch.indicators.bollinger import bollinger, bollinger_state

from .conftest import CompareFn, Ohlcv


@pytest.mark.parametrize(("length", "mult"), [(400, 2.0), (20, 2.5), (2, 1.0)])
def test_matches_talib_bbands(
    ohlcv: Ohlcv, assert_like_talib: CompareFn, length: int, mult: float
) -> None:
    bands = bollinger(ohlcv.close, length=length, mult=mult)
    # talib's default matype is 0 = SMA; its stdev is the population one
    upper, middle, lower = talib.BBANDS(ohlcv.close, timeperiod=length, nbdevup=mult, nbdevdn=mult)
    assert_like_talib(bands.upper, upper, nan_prefix=length - 1)
    assert_like_talib(bands.middle, middle, nan_prefix=length - 1)
    assert_like_talib(bands.lower, lower, nan_prefix=length - 1)


def test_state_is_the_last_bar_of_the_series(ohlcv: Ohlcv) -> None:
    bands = bollinger(ohlcv.close)
    state = bollinger_state(ohlcv.close)
    assert state.upper == pytest.approx(bands.upper[-1], rel=1e-12)
    assert state.middle == pytest.approx(bands.middle[-1], rel=1e-12)
    assert state.lower == pytest.approx(bands.lower[-1], rel=1e-12)
    assert state.width == pytest.approx((state.upper - state.lower) / state.middle)
    expected_pos = (ohlcv.close[-1] - state.lower) / (state.upper - state.lower)
    assert state.price_position == pytest.approx(expected_pos)


# Window alternating a, b: mean (a+b)/2, population sd |a-b|/2, so with mult 2
# upper/lower = mean +/- |a-b| and width = 2|a-b| / mean.
@pytest.mark.parametrize(
    ("a", "b", "width", "squeeze", "expansion"),
    [
        (99.0, 101.0, 4.0 / 100.0, True, False),  # bands 98..102
        (97.0, 103.0, 12.0 / 100.0, False, False),  # bands 94..106
        (90.0, 110.0, 40.0 / 100.0, False, True),  # bands 80..120
    ],
)
def test_state_by_hand(a: float, b: float, width: float, squeeze: bool, expansion: bool) -> None:
    close = np.array([a, b, a, b])
    state = bollinger_state(close, length=4)
    d = abs(a - b)
    assert state.middle == pytest.approx(100.0)
    assert state.upper == pytest.approx(100.0 + d)
    assert state.lower == pytest.approx(100.0 - d)
    assert state.width == pytest.approx(width)
    assert state.is_squeeze is squeeze
    assert state.is_expansion is expansion
    # close b = 100 + d/2 sits 3/4 of the way from lower to upper
    assert state.price_position == pytest.approx(0.75)


def test_custom_thresholds_and_outside_band() -> None:
    close = np.array([99.0, 101.0, 99.0, 101.0, 99.0, 101.0, 99.0, 110.0])
    state = bollinger_state(close, length=8, squeeze_below=0.01, expansion_above=0.05)
    assert not state.is_squeeze
    assert state.is_expansion
    assert state.price_position > 1.0  # the last close is above the upper band


def test_flat_prices_position_is_half() -> None:
    state = bollinger_state(np.full(30, 42.0), length=20)
    assert state.upper == state.middle == state.lower == 42.0
    assert state.width == 0.0
    assert state.price_position == 0.5
    assert state.is_squeeze and not state.is_expansion


def test_insufficient_data() -> None:
    with pytest.raises(InsufficientData, match="need 400"):
        bollinger_state(np.ones(399) * 10.0)
    close = np.ones(30) * 10.0
    close[-3] = np.nan
    with pytest.raises(InsufficientData):
        bollinger_state(close, length=20)
    assert np.isnan(bollinger(np.ones(10), length=20).middle).all()
