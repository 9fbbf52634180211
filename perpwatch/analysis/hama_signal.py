"""One symbol's HAMA analysis from its closed candles: a pure function.

Rules (from the Pine definition):
BUY if bullish (last cross up, HAMA close >= MA, deviation >= 0.1 %), SELL if bearish
(mirrored), else HOLD. The confidence formula is in :mod:`perpwatch.analysis.confidence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from perpwatch.analysis import confidence as conf
from perpwatch.analysis.models import (
    AnalysisDocument,
    BollingerValues,
    Conditions,
    ConfidenceBreakdown,
    HamaAnalysis,
    HamaStatus,
    MacdValues,
    Recommendation,
    Signals,
    TechnicalIndicators,
    Trend,
    VolumeValues,
)
from perpwatch.errors import InsufficientData
from perpwatch.indicators.atr import atr
from perpwatch.indicators.bollinger import bollinger_state
from perpwatch.indicators.hama import HamaParams, hama_series, hama_state, min_candles
from perpwatch.indicators.macd import macd
from perpwatch.indicators.rsi import rsi
from perpwatch.indicators.volume import volume_ratio
from perpwatch.market.types import Candles
from perpwatch.timeutil import iso_ms

BOLLINGER_LENGTH = 400
VOLUME_AVERAGE_BARS = 20
VOLUME_CONFIRMATION_RATIO = 1.2
HIGH_CONFIDENCE = 0.7
MACD_SLOW, MACD_SIGNAL = 26, 9


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    symbol: str
    exchange: str
    timeframe: str
    closed: Candles
    live_price: float
    price_time_ms: int
    computed_at_ms: int


def required_candles(params: HamaParams) -> int:
    """Closed candles needed for every value of the analysis to be defined."""
    return max(min_candles(params), BOLLINGER_LENGTH, MACD_SLOW + MACD_SIGNAL, 2 * 14 + 1) + 1


def _finite(x: float, what: str) -> float:
    if not math.isfinite(x):
        raise InsufficientData(f"{what} is not defined for the data available")
    return float(x)


def analyze(inp: AnalysisInput, params: HamaParams) -> AnalysisDocument:
    c = inp.closed
    need = required_candles(params)
    if len(c) < need:
        raise InsufficientData(
            f"{inp.symbol}: {len(c)} closed candles available, {need} needed for the analysis"
        )
    series = hama_series(open=c.open, high=c.high, low=c.low, close=c.close, params=params)
    state = hama_state(series, params)
    bb = bollinger_state(c.close, length=BOLLINGER_LENGTH)
    rsi_now = _finite(float(rsi(c.close, 14)[-1]), "RSI")
    m = macd(c.close, 12, MACD_SLOW, MACD_SIGNAL)
    atr_now = _finite(float(atr(c.high, c.low, c.close, 14)[-1]), "ATR")
    vr_raw = float(volume_ratio(c.volume, VOLUME_AVERAGE_BARS)[-1])
    vr = vr_raw if math.isfinite(vr_raw) else None
    last_volume = float(c.volume[-1])
    avg_volume = float(c.volume[-VOLUME_AVERAGE_BARS - 1 : -1].mean())
    has_volume = vr is not None and vr >= VOLUME_CONFIRMATION_RATIO

    recommendation: Recommendation
    if state.bullish:
        recommendation, status = "BUY", "bullish"
    elif state.bearish:
        recommendation, status = "SELL", "bearish"
    else:
        recommendation, status = "HOLD", "neutral"
    hama_status: HamaStatus = status  # type: ignore[assignment]

    side = 1 if state.candle_close >= state.ma else -1
    if recommendation == "SELL":
        side = -1
    elif recommendation == "BUY":
        side = 1
    bars = state.bars_since_cross if state.last_cross_direction == side else None
    parts = conf.components(
        direction=side,
        deviation_pct=state.deviation_pct,
        bars_since_cross=bars,
        ma_slope_pct=state.ma_slope_pct,
        volume_ratio=vr,
        rsi=rsi_now,
    )
    confidence = parts.total if recommendation != "HOLD" else round(1.0 - parts.total, 4)

    is_up = state.candle_close > state.ma and state.ma_slope_pct > 0
    is_down = state.candle_close < state.ma and state.ma_slope_pct < 0
    trend: Trend = "uptrend" if is_up else "downtrend" if is_down else "sideways"
    tf = c.timeframe_ms
    cross_time = (
        iso_ms(int(c.open_time[state.last_cross_index]) + tf)
        if state.last_cross_index is not None
        else None
    )
    signals = Signals(
        ha_open=state.candle_open,
        ha_high=state.candle_high,
        ha_low=state.candle_low,
        ha_close=state.candle_close,
        hama_ma=state.ma,
        deviation_pct=round(state.deviation_pct, 6),
        last_cross_direction=state.last_cross_direction,  # type: ignore[arg-type]
        last_cross_time=cross_time,
        bars_since_cross=state.bars_since_cross,
        realtime_price=inp.live_price,
        trend_strength=round(conf.deviation_score(state.deviation_pct), 4),
        volume_confirmation=has_volume,
        ma_slope_pct=round(state.ma_slope_pct, 6),
    )
    indicators = TechnicalIndicators(
        hama_status=hama_status,
        candle_close=state.candle_close,
        ma_value=state.ma,
        deviation_pct=round(state.deviation_pct, 6),
        realtime_price=inp.live_price,
        bollinger=BollingerValues(
            upper=bb.upper,
            middle=bb.middle,
            lower=bb.lower,
            width=bb.width,
            is_squeeze=bb.is_squeeze,
            is_expansion=bb.is_expansion,
            price_position=bb.price_position,
        ),
        rsi=round(rsi_now, 4),
        macd=MacdValues(
            macd=_finite(float(m.macd[-1]), "MACD"),
            signal=_finite(float(m.signal[-1]), "MACD signal"),
            histogram=_finite(float(m.histogram[-1]), "MACD histogram"),
        ),
        atr=atr_now,
        atr_pct=round(atr_now / float(c.close[-1]) * 100.0, 6),
        volume=VolumeValues(last=last_volume, average_20=avg_volume, ratio=vr),
    )
    above70 = confidence >= HIGH_CONFIDENCE
    conditions = Conditions(
        is_uptrend=is_up,
        is_downtrend=is_down,
        confidence_above_70=above70,
        has_volume_confirmation=has_volume,
        meets_buy_criteria=recommendation == "BUY" and is_up and above70,
        meets_sell_criteria=recommendation == "SELL" and is_down and above70,
        summary=_summary(recommendation, confidence, state.deviation_pct, side, bars, vr, rsi_now),
    )
    return AnalysisDocument(
        symbol=inp.symbol,
        exchange=inp.exchange,
        timeframe=inp.timeframe,
        hama_analysis=HamaAnalysis(
            recommendation=recommendation,
            confidence=confidence,
            trend=trend,
            hama_status=hama_status,
            signals=signals,
            technical_indicators=indicators,
            confidence_breakdown=ConfidenceBreakdown(
                deviation=parts.deviation,
                cross_age=parts.cross_age,
                ma_slope=parts.ma_slope,
                volume=parts.volume,
                rsi=parts.rsi,
            ),
        ),
        conditions=conditions,
        candle_close_time=iso_ms(int(c.open_time[-1]) + tf),
        candles_used=len(c),
        price_time=iso_ms(inp.price_time_ms),
        timestamp=iso_ms(inp.computed_at_ms),
        timestamp_ms=inp.computed_at_ms,
    )


def _summary(
    rec: Recommendation,
    confidence: float,
    deviation_pct: float,
    side: int,
    bars: int | None,
    vr: float | None,
    rsi_now: float,
) -> str:
    where = "above" if side > 0 else "below"
    cross = (
        f"cross {'up' if side > 0 else 'down'} {bars} bars ago"
        if bars is not None
        else "no cross on this side"
    )
    vol = f"volume {vr:.2f}x avg" if vr is not None else "volume avg unknown"
    return (
        f"{rec} ({confidence:.0%}): HAMA close {deviation_pct:.2f}% {where} MA, {cross}, "
        f"{vol}, RSI {rsi_now:.1f}"
    )
