"""A symbol's chart data: candles and every indicator line of the analysis, as arrays.

The lines come from the same functions as :func:`~perpwatch.analysis.hama_signal.analyze`
(HAMA candles and MA, Bollinger, RSI, MACD), computed over the whole held history so
that each is as warmed up as in the analysis, then cut to the last ``bars`` closed
candles. A value not defined yet is ``null``, never a made-up number. Pure: no I/O.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from perpwatch.analysis.hama_signal import BOLLINGER_LENGTH, MACD_SIGNAL, MACD_SLOW
from perpwatch.indicators.bollinger import bollinger
from perpwatch.indicators.hama import HamaParams, hama_series
from perpwatch.indicators.macd import macd
from perpwatch.indicators.rsi import rsi
from perpwatch.market.types import Candles
from perpwatch.timeutil import iso_ms
from perpwatch.types import FloatArray

Line = list[float | None]


class HamaLines(BaseModel):
    open: Line
    high: Line
    low: Line
    close: Line
    ma: Line = Field(description="the MA line")


class Cross(BaseModel):
    time: int = Field(description="open time (epoch ms) of the crossing candle")
    direction: Literal[1, -1] = Field(description="1: HAMA close crossed above the MA")


class BollingerLines(BaseModel):
    upper: Line
    middle: Line
    lower: Line


class MacdLines(BaseModel):
    macd: Line
    signal: Line
    histogram: Line


class AnalysisSeries(BaseModel):
    """``GET /api/gainer-analysis/series/{symbol}``: the last ``bars`` closed candles."""

    symbol: str
    exchange: str
    timeframe: str
    bars: int = Field(description="candles in every array (at most the bars asked for)")
    time: list[int] = Field(description="candle open times, epoch ms")
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]
    hama: HamaLines
    crosses: list[Cross] = Field(description="HAMA close / MA crossings within the bars")
    bollinger: BollingerLines
    rsi: Line = Field(description="RSI 14")
    macd: MacdLines
    candle_close_time: str = Field(description="close time of the last candle")
    timestamp: str = Field(description="when these arrays were computed (UTC)")
    timestamp_ms: int


def _line(x: FloatArray, start: int) -> Line:
    return [float(v) if math.isfinite(v) else None for v in x[start:].tolist()]


def analysis_series(
    candles: Candles,
    params: HamaParams,
    *,
    symbol: str,
    exchange: str,
    timeframe: str,
    bars: int,
    computed_at_ms: int,
) -> AnalysisSeries:
    c = candles
    n = len(c)
    if n == 0:
        raise ValueError("no candles")
    start = max(0, n - bars)
    h = hama_series(open=c.open, high=c.high, low=c.low, close=c.close, params=params)
    bb = bollinger(c.close, length=BOLLINGER_LENGTH)
    m = macd(c.close, 12, MACD_SLOW, MACD_SIGNAL)
    crosses = [
        Cross(time=int(c.open_time[i]), direction=1 if h.cross_up[i] else -1)
        for i in np.flatnonzero(h.cross_up[start:] | h.cross_down[start:]) + start
    ]
    return AnalysisSeries(
        symbol=symbol,
        exchange=exchange,
        timeframe=timeframe,
        bars=n - start,
        time=[int(t) for t in c.open_time[start:].tolist()],
        open=c.open[start:].tolist(),
        high=c.high[start:].tolist(),
        low=c.low[start:].tolist(),
        close=c.close[start:].tolist(),
        volume=c.volume[start:].tolist(),
        hama=HamaLines(
            open=_line(h.candle_open, start),
            high=_line(h.candle_high, start),
            low=_line(h.candle_low, start),
            close=_line(h.candle_close, start),
            ma=_line(h.ma, start),
        ),
        crosses=crosses,
        bollinger=BollingerLines(
            upper=_line(bb.upper, start),
            middle=_line(bb.middle, start),
            lower=_line(bb.lower, start),
        ),
        rsi=_line(rsi(c.close, 14), start),
        macd=MacdLines(
            macd=_line(m.macd, start),
            signal=_line(m.signal, start),
            histogram=_line(m.histogram, start),
        ),
        candle_close_time=iso_ms(int(c.open_time[-1]) + c.timeframe_ms),
        timestamp=iso_ms(computed_at_ms),
        timestamp_ms=computed_at_ms,
    )
