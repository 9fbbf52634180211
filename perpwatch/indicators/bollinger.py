"""Bollinger Bands (SMA +/- mult * population stdev), as TA-Lib ``BBANDS`` with matype 0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from perpwatch.errors import InsufficientData
from perpwatch.indicators._core import as_series, check_period, nan_array
from perpwatch.types import FloatArray


@dataclass(frozen=True, slots=True)
class Bands:
    upper: FloatArray
    middle: FloatArray
    lower: FloatArray


@dataclass(frozen=True, slots=True)
class BollingerState:
    """Bollinger Bands at the last bar.

    ``width = (upper - lower) / middle``; ``is_squeeze`` is ``width < squeeze_below``
    and ``is_expansion`` is ``width > expansion_above``. ``price_position`` is
    ``(close - lower) / (upper - lower)``: 0 on the lower band, 1 on the upper band,
    outside [0, 1] when the close is outside the bands, and 0.5 when the bands have
    zero width (constant prices).
    """

    upper: float
    middle: float
    lower: float
    width: float
    is_squeeze: bool
    is_expansion: bool
    price_position: float


def bollinger(close: FloatArray, *, length: int = 400, mult: float = 2.0) -> Bands:
    """Bands over every bar: ``middle = SMA(close, length)``, ``sd`` the population
    (ddof=0) standard deviation of the same window, ``upper/lower = middle +/- mult*sd``.
    NaN until ``length`` closes exist (and for windows containing a NaN).
    """
    x = as_series(close, "close")
    length = check_period(length, "length")
    size = x.shape[0]
    middle, sd = nan_array(size), nan_array(size)
    if size >= length:
        windows = sliding_window_view(x, length)
        middle[length - 1 :] = windows.sum(axis=-1) / length
        sd[length - 1 :] = windows.std(axis=-1)
    return Bands(upper=middle + mult * sd, middle=middle, lower=middle - mult * sd)


def bollinger_state(
    close: FloatArray,
    *,
    length: int = 400,
    mult: float = 2.0,
    squeeze_below: float = 0.1,
    expansion_above: float = 0.15,
) -> BollingerState:
    """:class:`BollingerState` at the last bar (same numbers as :func:`bollinger`).

    Raises :class:`~perpwatch.errors.InsufficientData` when there are fewer than
    ``length`` closes or the last ``length`` contain a NaN, and ``ValueError`` when
    the middle band is not positive (prices must be positive).
    """
    x = as_series(close, "close")
    length = check_period(length, "length")
    if x.shape[0] < length:
        raise InsufficientData(f"Bollinger Bands need {length} closes, got {x.shape[0]}")
    window = x[-length:]
    if np.isnan(window).any():
        raise InsufficientData(f"the last {length} closes contain NaN")
    middle = float(window.sum()) / length
    if middle <= 0.0:
        raise ValueError(f"Bollinger middle band must be positive, got {middle}")
    sd = float(window.std())
    upper, lower = middle + mult * sd, middle - mult * sd
    width = (upper - lower) / middle
    span = upper - lower
    position = 0.5 if span == 0.0 else (float(x[-1]) - lower) / span
    return BollingerState(
        upper=upper,
        middle=middle,
        lower=lower,
        width=width,
        is_squeeze=width < squeeze_below,
        is_expansion=width > expansion_above,
        price_position=position,
    )
