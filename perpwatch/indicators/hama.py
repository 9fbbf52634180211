"""HAMA candles (smoothed Heikin-Ashi-like candles) and their trend state.

Formulas, per bar ``i`` (as in the TradingView script)::

    SourceOpen  = (open[i-1] + close[i-1]) / 2      NaN on bar 0
    SourceHigh  = max(high, close)                  SourceLow = min(low, close)
    SourceClose = (open + high + low + close) / 4
    CandleOpen  = MA(SourceOpen,  open_length,  open_type)   default EMA 45
    CandleHigh  = MA(SourceHigh,  high_length,  high_type)   default EMA 20
    CandleLow   = MA(SourceLow,   low_length,   low_type)    default EMA 20
    CandleClose = MA(SourceClose, close_length, close_type)  default WMA 40
    MA          = MA(close,       ma_length,    ma_type)     default WMA 100

``MA(...)`` is :func:`~perpwatch.indicators.moving_averages.moving_average`: the NaN
on bar 0 of SourceOpen is skipped, not zero-filled, so an EMA CandleOpen is seeded
with the SMA of SourceOpen bars ``1 .. open_length``. Crosses are Pine's
``ta.crossover(CandleClose, MA)`` / ``ta.crossunder``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perpwatch.errors import InsufficientData
from perpwatch.indicators._core import as_series, check_period
from perpwatch.indicators.moving_averages import MA_TYPES, MaType, moving_average
from perpwatch.types import FloatArray

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class HamaParams:
    open_length: int = 45
    open_type: MaType = "EMA"
    high_length: int = 20
    high_type: MaType = "EMA"
    low_length: int = 20
    low_type: MaType = "EMA"
    close_length: int = 40
    close_type: MaType = "WMA"
    ma_length: int = 100
    ma_type: MaType = "WMA"
    min_deviation_pct: float = 0.1
    slope_bars: int = 5

    def __post_init__(self) -> None:
        for part in ("open", "high", "low", "close", "ma"):
            check_period(getattr(self, f"{part}_length"), f"{part}_length")
            kind = getattr(self, f"{part}_type")
            if kind not in MA_TYPES:
                raise ValueError(f"{part}_type must be one of {MA_TYPES}, got {kind!r}")
        check_period(self.slope_bars, "slope_bars")
        if not self.min_deviation_pct >= 0.0:
            raise ValueError(f"min_deviation_pct must be >= 0, got {self.min_deviation_pct!r}")


@dataclass(frozen=True, slots=True)
class HamaSeries:
    """HAMA lines over every bar (NaN until defined) and the cross flags.

    ``cross_up[i]`` is ``cc[i] > ma[i] and cc[i-1] <= ma[i-1]`` and ``cross_down[i]``
    is ``cc[i] < ma[i] and cc[i-1] >= ma[i-1]`` (``cc`` = candle_close), both False
    unless all four values are defined; bar 0 is never a cross.
    """

    candle_open: FloatArray
    candle_high: FloatArray
    candle_low: FloatArray
    candle_close: FloatArray
    ma: FloatArray
    cross_up: BoolArray
    cross_down: BoolArray


@dataclass(frozen=True, slots=True)
class HamaState:
    """HAMA at the last bar; see :func:`hama_state` for the exact rules."""

    candle_open: float
    candle_high: float
    candle_low: float
    candle_close: float
    ma: float
    deviation_pct: float
    last_cross_direction: int
    last_cross_index: int | None
    bars_since_cross: int | None
    bullish: bool
    bearish: bool
    ma_slope_pct: float


def min_candles(params: HamaParams) -> int:
    """Smallest input length for which :func:`hama_state` returns instead of raising:
    every line and the MA ``slope_bars`` bars back must be defined on the last bar
    (SourceOpen starts one bar late, hence ``open_length + 1``)."""
    return max(
        params.open_length + 1,
        params.high_length,
        params.low_length,
        params.close_length,
        params.ma_length + params.slope_bars,
    )


def hama_series(
    *,
    open: FloatArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    params: HamaParams,
) -> HamaSeries:
    """Compute the HAMA lines and crosses (module docstring) for equal-length OHLC arrays."""
    o, h = as_series(open, "open"), as_series(high, "high")
    lo, c = as_series(low, "low"), as_series(close, "close")
    if not o.shape == h.shape == lo.shape == c.shape:
        raise ValueError("open, high, low and close must have the same length")
    p = params
    src_open = np.full(o.shape[0], np.nan, dtype=np.float64)
    src_open[1:] = (o[:-1] + c[:-1]) / 2.0
    src_close = (o + h + lo + c) / 4.0
    cc = moving_average(src_close, p.close_length, p.close_type)
    ma = moving_average(c, p.ma_length, p.ma_type)
    cross_up = np.zeros(o.shape[0], dtype=np.bool_)
    cross_down = np.zeros(o.shape[0], dtype=np.bool_)
    cross_up[1:] = (cc[1:] > ma[1:]) & (cc[:-1] <= ma[:-1])
    cross_down[1:] = (cc[1:] < ma[1:]) & (cc[:-1] >= ma[:-1])
    return HamaSeries(
        candle_open=moving_average(src_open, p.open_length, p.open_type),
        candle_high=moving_average(np.maximum(h, c), p.high_length, p.high_type),
        candle_low=moving_average(np.minimum(lo, c), p.low_length, p.low_type),
        candle_close=cc,
        ma=ma,
        cross_up=cross_up,
        cross_down=cross_down,
    )


def hama_state(series: HamaSeries, params: HamaParams) -> HamaState:
    """The HAMA state at the last bar of ``series``.

    - ``deviation_pct = |candle_close - ma| * 100 / ma``.
    - ``last_cross_direction``: 1 if the most recent cross in the data is up, -1 if
      down, 0 if there is none; ``last_cross_index`` is its bar index and
      ``bars_since_cross = len - 1 - last_cross_index`` (0 = cross on the last bar);
      both None without a cross.
    - ``bullish``: last cross up and ``candle_close >= ma`` and
      ``deviation_pct >= min_deviation_pct``; ``bearish``: last cross down and
      ``candle_close <= ma`` and ``deviation_pct >= min_deviation_pct``.
    - ``ma_slope_pct = (ma[-1] - ma[-1-slope_bars]) * 100 / ma[-1-slope_bars]``.

    Raises :class:`~perpwatch.errors.InsufficientData` if candle_close, MA, any other
    candle line, or the MA ``slope_bars`` back is NaN (fewer than
    :func:`min_candles` bars), and ``ValueError`` if the MA is not positive.
    """
    size = series.ma.shape[0]
    k = params.slope_bars
    lines = (series.candle_open, series.candle_high, series.candle_low, series.candle_close)
    last = [float(a[-1]) if size else math.nan for a in (*lines, series.ma)]
    ma_back = float(series.ma[-1 - k]) if size > k else math.nan
    if any(math.isnan(v) for v in (*last, ma_back)):
        raise InsufficientData(f"HAMA needs at least {min_candles(params)} candles, got {size}")
    c_open, c_high, c_low, cc, ma = last
    if ma <= 0.0 or ma_back <= 0.0:
        raise ValueError(f"HAMA moving average must be positive, got {ma}")
    deviation = abs(cc - ma) * 100.0 / ma
    crosses = np.flatnonzero(series.cross_up | series.cross_down)
    if crosses.size:
        index: int | None = int(crosses[-1])
        direction = 1 if series.cross_up[crosses[-1]] else -1
        since: int | None = size - 1 - int(crosses[-1])
    else:
        index, direction, since = None, 0, None
    strong = deviation >= params.min_deviation_pct
    return HamaState(
        candle_open=c_open,
        candle_high=c_high,
        candle_low=c_low,
        candle_close=cc,
        ma=ma,
        deviation_pct=deviation,
        last_cross_direction=direction,
        last_cross_index=index,
        bars_since_cross=since,
        bullish=direction == 1 and cc >= ma and strong,
        bearish=direction == -1 and cc <= ma and strong,
        ma_slope_pct=(ma - ma_back) * 100.0 / ma_back,
    )
