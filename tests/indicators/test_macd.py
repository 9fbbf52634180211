from __future__ import annotations

import numpy as np
import pytest
import talib

from perpwatch.indicators.macd import macd
from perpwatch.indicators.moving_averages import ema

from .conftest import CompareFn, Ohlcv


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 13, 4), (3, 10, 16)])
def test_matches_talib(
    ohlcv: Ohlcv, assert_like_talib: CompareFn, fast: int, slow: int, signal: int
) -> None:
    ours = macd(ohlcv.close, fast, slow, signal)
    ref_macd, ref_signal, ref_hist = talib.MACD(ohlcv.close, fast, slow, signal)
    prefix = slow + signal - 2
    # The MACD line is a difference of two ~100 values, hence the small atol.
    assert_like_talib(ours.macd, ref_macd, nan_prefix=prefix, atol=1e-10)
    assert_like_talib(ours.signal, ref_signal, nan_prefix=prefix, atol=1e-10)
    assert_like_talib(ours.histogram, ref_hist, nan_prefix=prefix, atol=1e-10)


def test_defaults_and_histogram(ohlcv: Ohlcv) -> None:
    res = macd(ohlcv.close)
    assert np.isnan(res.macd[:33]).all() and not np.isnan(res.macd[33:]).any()
    np.testing.assert_array_equal(res.histogram, res.macd - res.signal)


def test_fast_ema_is_seeded_at_the_slow_start(ohlcv: Ohlcv) -> None:
    x = ohlcv.close
    # TA-Lib seeds the fast EMA at bar 25 with the mean of x[14:26], not at bar 11.
    fast = float(np.mean(x[14:26]))
    for v in x[26:34]:
        fast = (v - fast) * (2 / 13) + fast
    expected = fast - ema(x, 26)[33]
    assert macd(x).macd[33] == pytest.approx(expected, rel=1e-12)
    naive = ema(x, 12)[33] - ema(x, 26)[33]
    assert abs(naive - expected) > 1e-9  # the alignment matters


def test_swapped_periods_like_talib(ohlcv: Ohlcv) -> None:
    a, b = macd(ohlcv.close, 26, 12, 9), macd(ohlcv.close, 12, 26, 9)
    np.testing.assert_array_equal(a.macd, b.macd)


def test_leading_nans_are_skipped_like_talib(ohlcv: Ohlcv, assert_like_talib: CompareFn) -> None:
    x = ohlcv.close.copy()
    x[:6] = np.nan
    ours = macd(x)
    ref = talib.MACD(x, 12, 26, 9)
    assert_like_talib(ours.macd, ref[0], nan_prefix=6 + 33, atol=1e-10)
    assert_like_talib(ours.signal, ref[1], nan_prefix=6 + 33, atol=1e-10)


def test_too_short_is_all_nan() -> None:
    res = macd(np.arange(1.0, 34.0))  # needs 34
    assert np.isnan(res.macd).all() and np.isnan(res.signal).all()
    assert not np.isnan(macd(np.arange(1.0, 35.0)).signal[-1])


def test_flat_series_is_zero() -> None:
    res = macd(np.full(60, 7.0))
    assert (res.macd[33:] == 0.0).all() and (res.histogram[33:] == 0.0).all()
