"""Volume relative to its recent average."""

from __future__ import annotations

import numpy as np

from perpwatch.indicators._core import as_series, check_period, nan_array
from perpwatch.indicators.moving_averages import sma
from perpwatch.types import FloatArray


def volume_ratio(volume: FloatArray, n: int = 20) -> FloatArray:
    """``out[i] = volume[i] / mean(volume[i-n : i])`` -- the bar's volume over the
    average of the ``n`` bars *before* it (the current bar is not in the average).

    NaN for ``i < n``, when the previous-``n`` window contains a NaN, when
    ``volume[i]`` is NaN, and when that average is 0 (no trades: no ratio). A ratio
    of 2.0 means twice the recent average volume.
    """
    v = as_series(volume, "volume")
    n = check_period(n)
    out = nan_array(v.shape[0])
    if v.shape[0] <= n:
        return out
    avg = sma(v[:-1], n)[n - 1 :]  # avg[k] = mean(v[k : k + n]) -> used for bar k + n
    cur = v[n:]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[n:] = np.where(avg == 0.0, np.nan, cur / avg)
    return out
