from __future__ import annotations

import numpy as np
import pytest
import talib

from perpwatch.indicators.atr import atr, true_range

from .conftest import CompareFn, Ohlcv


@pytest.mark.parametrize("n", [1, 2, 14, 30])
def test_matches_talib(ohlcv: Ohlcv, assert_like_talib: CompareFn, n: int) -> None:
    ours = atr(ohlcv.high, ohlcv.low, ohlcv.close, n)
    assert_like_talib(ours, talib.ATR(ohlcv.high, ohlcv.low, ohlcv.close, n), nan_prefix=n)


def test_true_range_matches_talib(ohlcv: Ohlcv, assert_like_talib: CompareFn) -> None:
    ours = true_range(ohlcv.high, ohlcv.low, ohlcv.close)
    assert_like_talib(ours, talib.TRANGE(ohlcv.high, ohlcv.low, ohlcv.close), nan_prefix=1)


def test_leading_nans_are_skipped_like_talib(ohlcv: Ohlcv, assert_like_talib: CompareFn) -> None:
    high = ohlcv.high.copy()
    high[:4] = np.nan
    ours = atr(high, ohlcv.low, ohlcv.close)
    assert_like_talib(ours, talib.ATR(high, ohlcv.low, ohlcv.close, 14), nan_prefix=4 + 14)


def test_small_case_by_hand() -> None:
    high = np.array([10.0, 12.0, 11.0, 15.0])
    low = np.array([9.0, 10.0, 8.0, 13.0])
    close = np.array([9.5, 11.0, 9.0, 14.0])
    # TR1 = max(12-10, |12-9.5|, |10-9.5|) = 2.5
    # TR2 = max(11-8, |11-11|, |8-11|) = 3
    # TR3 = max(15-13, |15-9|, |13-9|) = 6
    out = atr(high, low, close, 2)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx((2.5 + 3.0) / 2)  # 2.75
    assert out[3] == pytest.approx((2.75 * 1 + 6.0) / 2)  # 4.375


def test_flat_prices_give_zero() -> None:
    flat = np.full(30, 50.0)
    out = atr(flat, flat, flat, 14)
    assert (out[14:] == 0.0).all()
    np.testing.assert_array_equal(out, talib.ATR(flat, flat, flat, 14))


def test_too_short_and_mismatched() -> None:
    assert np.isnan(atr(np.ones(14), np.ones(14), np.ones(14), 14)).all()
    with pytest.raises(ValueError, match="same length"):
        atr(np.ones(20), np.ones(19), np.ones(20))
