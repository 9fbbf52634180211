"""Simple, exponential and weighted moving averages (TA-Lib / Pine semantics).

All three return an array the length of ``x``. Output ``i`` is NaN until ``n``
values exist; leading NaNs in ``x`` (e.g. a series built from ``open[1]``) are
skipped, so with ``b`` leading NaNs the first defined output is at ``b + n - 1``.
A NaN after the first valid value makes SMA/WMA NaN for the ``n`` windows that
contain it and EMA NaN from there on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from perpwatch.indicators._core import (
    as_series,
    check_period,
    ema_seeded_at,
    first_valid,
    nan_array,
)
from perpwatch.types import FloatArray

MaType = Literal["EMA", "SMA", "WMA"]
MA_TYPES: tuple[str, ...] = get_args(MaType)


def sma(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average: ``out[i] = mean(x[i-n+1 : i+1])`` (TA-Lib ``SMA``)."""
    x = as_series(x)
    n = check_period(n)
    out = nan_array(x.shape[0])
    if x.shape[0] >= n:
        out[n - 1 :] = sliding_window_view(x, n).sum(axis=-1) / n
    return out


def ema(x: FloatArray, n: int) -> FloatArray:
    """Exponential moving average as TradingView ``ta.ema`` and TA-Lib ``EMA``.

    ``alpha = 2 / (n + 1)``. With ``b`` the index of the first non-NaN input, the
    first output is at ``b + n - 1`` and equals the SMA of ``x[b : b + n]``; after
    that ``out[i] = out[i-1] + alpha * (x[i] - out[i-1])``. Earlier outputs are NaN.
    """
    x = as_series(x)
    n = check_period(n)
    return ema_seeded_at(x, n, first_valid(x) + n - 1)


def wma(x: FloatArray, n: int) -> FloatArray:
    """Linearly weighted moving average as Pine ``ta.wma`` / TA-Lib ``WMA``.

    ``out[i] = sum_{j=0}^{n-1} (n - j) * x[i - j] / (n (n + 1) / 2)``: weight ``n``
    on the newest value down to ``1`` on the oldest of the window.
    """
    x = as_series(x)
    n = check_period(n)
    out = nan_array(x.shape[0])
    if x.shape[0] >= n:
        weights = np.arange(1, n + 1, dtype=np.float64)  # oldest -> newest
        out[n - 1 :] = (sliding_window_view(x, n) @ weights) / (n * (n + 1) / 2.0)
    return out


_MA_FUNCS: dict[str, Callable[[FloatArray, int], FloatArray]] = {
    "EMA": ema,
    "SMA": sma,
    "WMA": wma,
}


def moving_average(x: FloatArray, n: int, kind: MaType) -> FloatArray:
    """Dispatch to :func:`ema`, :func:`sma` or :func:`wma` by ``kind``."""
    try:
        func = _MA_FUNCS[kind]
    except KeyError:
        raise ValueError(f"unknown moving average type {kind!r}; use one of {MA_TYPES}") from None
    return func(x, n)
