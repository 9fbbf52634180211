"""Relative Strength Index with Wilder smoothing, identical to TA-Lib ``RSI``."""

from __future__ import annotations

import numpy as np

from perpwatch.indicators._core import as_series, check_period, first_valid, nan_array, wilder
from perpwatch.types import FloatArray


def rsi(close: FloatArray, n: int = 14) -> FloatArray:
    """RSI in [0, 100], TA-Lib's default (non-Metastock) algorithm, unstable period 0.

    With ``b`` the index of the first non-NaN close and ``d[i] = close[i] - close[i-1]``:
    average gain / loss at ``b + n`` are the plain means of ``max(d, 0)`` /
    ``max(-d, 0)`` over ``d[b+1 : b+n+1]``; after that each is updated Wilder-style,
    ``avg = (avg * (n - 1) + value) / n``. ``rsi = 100 * gain / (gain + loss)``, and
    0 when ``gain + loss == 0`` (a flat series), as TA-Lib does. Output before
    ``b + n`` is NaN.
    """
    x = as_series(close, "close")
    n = check_period(n)
    out = nan_array(x.shape[0])
    b = first_valid(x)
    if x.shape[0] - b <= n:
        return out
    d = np.diff(x[b:])
    # TA-Lib: "if d < 0: loss -= d else gain += d" -- a NaN change lands in the gain.
    gain = np.where(d < 0, 0.0, d)
    loss = np.where(d < 0, -d, 0.0)
    avg_gain = wilder(gain[n:], n, float(np.sum(gain[:n])) / n)
    avg_loss = wilder(loss[n:], n, float(np.sum(loss[:n])) / n)
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(total == 0.0, 0.0, 100.0 * avg_gain / total)
    out[b + n :] = values
    return out
