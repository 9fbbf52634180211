"""MACD, identical to TA-Lib ``MACD``."""

from __future__ import annotations

from dataclasses import dataclass

from perpwatch.indicators._core import (
    as_series,
    check_period,
    ema_seeded_at,
    first_valid,
    nan_array,
)
from perpwatch.indicators.moving_averages import ema
from perpwatch.types import FloatArray


@dataclass(frozen=True, slots=True)
class MacdResult:
    """MACD line, its signal line, and ``histogram = macd - signal``."""

    macd: FloatArray
    signal: FloatArray
    histogram: FloatArray


def macd(close: FloatArray, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdResult:
    """MACD with TA-Lib's alignment (if ``slow < fast`` the two are swapped, as TA-Lib).

    With ``b`` the first non-NaN close and ``s = b + slow - 1``: both EMAs start at
    bar ``s``, each seeded with the SMA of its own last ``fast``/``slow`` closes up
    to ``s`` (so the fast EMA is *not* seeded at ``b + fast - 1``). ``macd = fast EMA
    - slow EMA`` from ``s``; ``signal`` is the EMA(``signal``) of that line, seeded
    with the SMA of ``macd[s : s + signal]``. All three outputs are NaN before
    ``s + signal - 1``, exactly where TA-Lib's are.
    """
    x = as_series(close, "close")
    fast, slow = check_period(fast, "fast"), check_period(slow, "slow")
    signal = check_period(signal, "signal")
    if slow < fast:
        fast, slow = slow, fast
    size = x.shape[0]
    start = first_valid(x) + slow - 1
    first = start + signal - 1
    if first >= size:
        return MacdResult(nan_array(size), nan_array(size), nan_array(size))
    line = ema_seeded_at(x, fast, start) - ema_seeded_at(x, slow, start)
    sig = ema(line, signal)
    line[:first] = float("nan")
    return MacdResult(macd=line, signal=sig, histogram=line - sig)
