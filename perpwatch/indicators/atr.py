"""Average True Range with Wilder smoothing, identical to TA-Lib ``ATR``."""

from __future__ import annotations

import numpy as np

from perpwatch.indicators._core import as_series, check_period, first_valid, nan_array, wilder
from perpwatch.types import FloatArray


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """``max(high - low, |high - close[i-1]|, |low - close[i-1]|)``; NaN on bar 0
    (TA-Lib ``TRANGE``)."""
    h, lo, c = as_series(high, "high"), as_series(low, "low"), as_series(close, "close")
    if not h.shape == lo.shape == c.shape:
        raise ValueError("high, low and close must have the same length")
    out = nan_array(h.shape[0])
    if h.shape[0] > 1:
        prev = c[:-1]
        out[1:] = np.maximum(
            h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev))
        )
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int = 14) -> FloatArray:
    """ATR as TA-Lib (unstable period 0).

    With ``b`` the first bar where high, low and close are all non-NaN: the first
    ATR, at ``b + n``, is the mean of the true ranges of bars ``b+1 .. b+n``; then
    ``atr = (atr_prev * (n - 1) + tr) / n``. Output before ``b + n`` is NaN.
    """
    n = check_period(n)
    tr = true_range(high, low, close)
    h, lo, c = as_series(high), as_series(low), as_series(close)
    out = nan_array(tr.shape[0])
    b = first_valid(h, lo, c)
    first = b + n
    if first >= tr.shape[0]:
        return out
    out[first:] = wilder(tr[first + 1 :], n, float(np.sum(tr[b + 1 : first + 1])) / n)
    return out
