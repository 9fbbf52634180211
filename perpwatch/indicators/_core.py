"""Shared helpers for the indicator modules (private)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from perpwatch.types import FloatArray


def as_series(x: npt.ArrayLike, name: str = "x") -> FloatArray:
    """``x`` as a 1-D float64 array (no copy when it already is one)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def check_period(n: int, name: str = "n") -> int:
    """Return ``n`` if it is an int >= 1, else raise ``ValueError``."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def nan_array(size: int) -> FloatArray:
    return np.full(size, np.nan, dtype=np.float64)


def first_valid(*xs: FloatArray) -> int:
    """Index of the first bar where every array is non-NaN (``len`` if none)."""
    valid = np.ones(xs[0].shape[0], dtype=np.bool_)
    for x in xs:
        valid &= ~np.isnan(x)
    idx = np.flatnonzero(valid)
    return int(idx[0]) if idx.size else int(valid.shape[0])


def ema_seeded_at(x: FloatArray, n: int, seed_index: int) -> FloatArray:
    """EMA (alpha = 2/(n+1)) whose first value, at ``seed_index``, is the mean of
    the ``n`` values ending there; NaN before. Requires ``seed_index >= n - 1``.

    The update is TA-Lib's ``prev = (x - prev) * k + prev``; a NaN input makes
    every later value NaN.
    """
    out = nan_array(x.shape[0])
    if seed_index >= x.shape[0]:
        return out
    seed = float(np.sum(x[seed_index - n + 1 : seed_index + 1])) / n
    k = 2.0 / (n + 1)
    prev = seed
    values = [seed]
    append = values.append
    for v in x[seed_index + 1 :].tolist():
        prev = (v - prev) * k + prev
        append(prev)
    out[seed_index:] = values
    return out


def wilder(values: FloatArray, n: int, seed: float) -> FloatArray:
    """Wilder smoothing: ``[seed, s1, s2, ...]`` with ``s = (s_prev*(n-1) + v) / n``
    for each ``v`` in ``values`` (TA-Lib's exact update order)."""
    prev = seed
    out = [seed]
    append = out.append
    m = n - 1
    for v in values.tolist():
        prev = (prev * m + v) / n
        append(prev)
    return np.asarray(out, dtype=np.float64)
