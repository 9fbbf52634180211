from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import talib

from perpwatch.indicators.moving_averages import ema, moving_average, sma, wma
from perpwatch.types import FloatArray

from .conftest import CompareFn, Ohlcv

PAIRS: list[tuple[Callable[[FloatArray, int], FloatArray], Callable[..., FloatArray]]] = [
    (sma, talib.SMA),
    (ema, talib.EMA),
    (wma, talib.WMA),
]


@pytest.mark.parametrize(("ours", "ref"), PAIRS, ids=["SMA", "EMA", "WMA"])
@pytest.mark.parametrize("n", [1, 2, 9, 45, 100, 400])
def test_matches_talib(
    ohlcv: Ohlcv,
    assert_like_talib: CompareFn,
    ours: Callable[..., FloatArray],
    ref: Callable[..., FloatArray],
    n: int,
) -> None:
    assert_like_talib(ours(ohlcv.close, n), ref(ohlcv.close, n), nan_prefix=n - 1)


@pytest.mark.parametrize(("ours", "ref"), PAIRS, ids=["SMA", "EMA", "WMA"])
def test_leading_nans_are_skipped_like_talib(
    ohlcv: Ohlcv,
    assert_like_talib: CompareFn,
    ours: Callable[..., FloatArray],
    ref: Callable[..., FloatArray],
) -> None:
    x = ohlcv.close.copy()
    x[:3] = np.nan
    assert_like_talib(ours(x, 10), ref(x, 10), nan_prefix=3 + 10 - 1)


def test_ema_seed_is_sma_of_first_n_non_nan_values() -> None:
    x = np.array([np.nan, np.nan, 1.0, 2.0, 3.0, 4.0, 5.0])
    out = ema(x, 3)
    assert np.isnan(out[:4]).all()
    # alpha = 2 / (3 + 1) = 0.5; seed = (1 + 2 + 3) / 3 = 2
    assert out[4] == 2.0
    assert out[5] == 2.0 + 0.5 * (4.0 - 2.0)  # 3.0
    assert out[6] == 3.0 + 0.5 * (5.0 - 3.0)  # 4.0


def test_wma_newest_value_weighs_most() -> None:
    out = wma(np.array([1.0, 2.0, 4.0, 8.0]), 3)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx((1 * 1.0 + 2 * 2.0 + 3 * 4.0) / 6)  # 17/6
    assert out[3] == pytest.approx((1 * 2.0 + 2 * 4.0 + 3 * 8.0) / 6)  # 34/6


def test_sma_small_case() -> None:
    out = sma(np.array([1.0, 2.0, 3.0, 10.0]), 2)
    np.testing.assert_array_equal(out, [np.nan, 1.5, 2.5, 6.5])


@pytest.mark.parametrize("func", [sma, ema, wma])
def test_too_short_input_is_all_nan(func: Callable[[FloatArray, int], FloatArray]) -> None:
    out = func(np.array([1.0, 2.0, 3.0]), 4)
    assert out.shape == (3,)
    assert np.isnan(out).all()
    assert func(np.array([]), 3).shape == (0,)


def test_moving_average_dispatch(ohlcv: Ohlcv) -> None:
    x = ohlcv.close
    np.testing.assert_array_equal(moving_average(x, 7, "EMA"), ema(x, 7))
    np.testing.assert_array_equal(moving_average(x, 7, "SMA"), sma(x, 7))
    np.testing.assert_array_equal(moving_average(x, 7, "WMA"), wma(x, 7))
    with pytest.raises(ValueError, match="unknown moving average"):
        moving_average(x, 7, "HMA")  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_invalid_period(n: object) -> None:
    with pytest.raises(ValueError, match="integer >= 1"):
        sma(np.ones(5), n)  # type: ignore[arg-type]
