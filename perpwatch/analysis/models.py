"""The HAMA analysis document: what is cached under ``hama:analysis:{SYMBOL}`` and served.

Field names that existing clients read are kept (``hama_analysis.signals.ha_open`` ...,
``hama_analysis.technical_indicators.hama_status`` ...); the rest is added beside them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Recommendation = Literal["BUY", "SELL", "HOLD"]
Trend = Literal["uptrend", "downtrend", "sideways"]
HamaStatus = Literal["bullish", "bearish", "neutral"]


class Signals(BaseModel):
    ha_open: float = Field(description="HAMA candle open: EMA(SourceOpen, 45)")
    ha_high: float
    ha_low: float
    ha_close: float = Field(description="HAMA candle close: WMA(SourceClose, 40)")
    hama_ma: float = Field(description="MA line: WMA(close, 100)")
    deviation_pct: float = Field(description="|ha_close - hama_ma| / hama_ma * 100")
    last_cross_direction: Literal[1, -1, 0] = Field(description="1 up, -1 down, 0 none in data")
    last_cross_time: str | None = Field(description="close time of the crossing candle (UTC)")
    bars_since_cross: int | None
    realtime_price: float = Field(description="last traded price when the analysis ran")
    trend_strength: float = Field(ge=0, le=1, description="min(deviation_pct / 2, 1)")
    volume_confirmation: bool
    ma_slope_pct: float = Field(description="MA change over the last 5 bars, percent")


class BollingerValues(BaseModel):
    upper: float
    middle: float
    lower: float
    width: float
    is_squeeze: bool
    is_expansion: bool
    price_position: float


class MacdValues(BaseModel):
    macd: float
    signal: float
    histogram: float


class VolumeValues(BaseModel):
    last: float = Field(description="volume of the last closed candle")
    average_20: float = Field(description="mean volume of the 20 candles before it")
    ratio: float | None


class TechnicalIndicators(BaseModel):
    hama_status: HamaStatus
    candle_close: float
    ma_value: float
    deviation_pct: float
    realtime_price: float
    bollinger: BollingerValues
    rsi: float
    macd: MacdValues
    atr: float
    atr_pct: float
    volume: VolumeValues


class ConfidenceBreakdown(BaseModel):
    deviation: float
    cross_age: float
    ma_slope: float
    volume: float
    rsi: float


class HamaAnalysis(BaseModel):
    recommendation: Recommendation
    confidence: float = Field(ge=0, le=1)
    trend: Trend
    hama_status: HamaStatus
    signals: Signals
    technical_indicators: TechnicalIndicators
    confidence_breakdown: ConfidenceBreakdown


class Conditions(BaseModel):
    is_uptrend: bool
    is_downtrend: bool
    confidence_above_70: bool
    has_volume_confirmation: bool
    meets_buy_criteria: bool
    meets_sell_criteria: bool
    summary: str


class AnalysisDocument(BaseModel):
    """One symbol's analysis as computed; ``timestamp`` is when it was computed."""

    symbol: str
    exchange: str
    timeframe: str
    hama_analysis: HamaAnalysis
    conditions: Conditions
    candle_close_time: str = Field(description="close time of the last closed candle used")
    candles_used: int
    price_time: str = Field(description="when realtime_price was read from the exchange")
    timestamp: str = Field(description="when this analysis was computed (UTC, ISO 8601)")
    timestamp_ms: int
    cycle_id: str | None = Field(
        default=None, description="the refresh cycle that computed it (null: computed on request)"
    )


class SignalChange(BaseModel):
    """A recommendation (BUY/SELL/HOLD) or a HAMA cross direction that changed between two
    consecutive analyses of a symbol and timeframe (the ``signal_change`` push event)."""

    model_config = {"populate_by_name": True}

    symbol: str
    timeframe: str
    from_: Recommendation = Field(alias="from", description="the previous recommendation")
    to: Recommendation = Field(description="the new recommendation")
    cross_from: Literal[1, -1, 0] = Field(description="the previous last_cross_direction")
    cross_to: Literal[1, -1, 0] = Field(description="the new last_cross_direction")
    changed: list[Literal["recommendation", "cross"]]
    confidence: float = Field(description="the new analysis's confidence")
    candle_close_time: str = Field(description="close time of the candle that changed it")
    computed_at: str = Field(description="when the new analysis was computed (UTC)")
