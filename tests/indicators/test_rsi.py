from __future__ import annotations

import numpy as np
import pytest
import talib

from perpwatch.indicators.rsi import rsi

from .conftest import CompareFn, Ohlcv


@pytest.mark.parametrize("n", [2, 5, 14, 30])
def test_matches_talib(ohlcv: Ohlcv, assert_like_talib: CompareFn, n: int) -> None:
    assert_like_talib(rsi(ohlcv.close, n), talib.RSI(ohlcv.close, n), nan_prefix=n)


def test_default_period_is_14(ohlcv: Ohlcv) -> None:
    np.testing.assert_array_equal(rsi(ohlcv.close), rsi(ohlcv.close, 14))


def test_leading_nans_are_skipped_like_talib(ohlcv: Ohlcv, assert_like_talib: CompareFn) -> None:
    x = ohlcv.close.copy()
    x[:5] = np.nan
    assert_like_talib(rsi(x), talib.RSI(x, 14), nan_prefix=5 + 14)


def test_small_case_by_hand() -> None:
    # changes: +1, -1, +1, +1
    out = rsi(np.array([1.0, 2.0, 1.0, 2.0, 3.0]), 2)
    assert np.isnan(out[:2]).all()
    # seed: gain = (1 + 0) / 2 = 0.5, loss = (0 + 1) / 2 = 0.5 -> 50
    assert out[2] == pytest.approx(50.0)
    # gain = (0.5 * 1 + 1) / 2 = 0.75, loss = (0.5 * 1 + 0) / 2 = 0.25 -> 75
    assert out[3] == pytest.approx(75.0)
    # gain = (0.75 + 1) / 2 = 0.875, loss = 0.25 / 2 = 0.125 -> 87.5
    assert out[4] == pytest.approx(87.5)


def test_flat_series_is_zero_like_talib() -> None:
    flat = np.full(40, 123.0)
    out = rsi(flat, 14)
    np.testing.assert_array_equal(out, talib.RSI(flat, 14))
    assert np.isnan(out[:14]).all()
    assert (out[14:] == 0.0).all()


def test_monotonic_series_hits_the_bounds() -> None:
    up = np.arange(1.0, 41.0)
    assert (rsi(up)[14:] == 100.0).all()
    assert (rsi(up[::-1].copy())[14:] == 0.0).all()


def test_too_short_is_all_nan() -> None:
    out = rsi(np.arange(1.0, 15.0), 14)  # 14 closes = 13 changes
    assert out.shape == (14,)
    assert np.isnan(out).all()
