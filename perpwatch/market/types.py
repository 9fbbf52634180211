"""Plain data types shared by every market adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from perpwatch.types import FloatArray, IntArray


class ExchangeState(BaseModel):
    """How perpwatch's client of an exchange stands: its circuit breaker and the request
    weight the exchange reports for this IP (``None``: not reported, e.g. the simulator)."""

    name: str
    breaker_open: bool = False
    weight_used: float | None = Field(
        default=None, description="weight the exchange counts in the current window"
    )
    weight_limit: int | None = Field(default=None, description="the limit perpwatch budgets to")
    rate_limited: int = Field(default=0, description="429/418 answers since start")


@dataclass(frozen=True, slots=True)
class Contract:
    """A USDT-margined linear perpetual contract as listed by an exchange."""

    symbol: str  # canonical, e.g. BTCUSDT
    exchange: str  # e.g. binanceusdm, sim
    ccxt_symbol: str  # e.g. BTC/USDT:USDT
    base: str
    quote: str
    quote_volume_24h: float  # 0.0 when the exchange did not report it


@dataclass(frozen=True, slots=True)
class Candles:
    """OHLCV candles in ascending open-time order; times are epoch milliseconds.

    ``timeframe_ms`` is the candle length, so candle ``i`` closes at
    ``open_time[i] + timeframe_ms``.
    """

    open_time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    timeframe_ms: int

    def __len__(self) -> int:
        return int(self.open_time.shape[0])

    @classmethod
    def empty(cls, timeframe_ms: int) -> Candles:
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f, f, f, f, f, timeframe_ms)

    @classmethod
    def from_rows(
        cls, rows: list[list[float]] | list[tuple[float, ...]], timeframe_ms: int
    ) -> Candles:
        """Build from ccxt-style rows ``[ts, open, high, low, close, volume]``."""
        if not rows:
            return cls.empty(timeframe_ms)
        arr = np.asarray(rows, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 6:
            raise ValueError("OHLCV rows must have 6 columns")
        return cls(
            open_time=arr[:, 0].astype(np.int64),
            open=arr[:, 1].copy(),
            high=arr[:, 2].copy(),
            low=arr[:, 3].copy(),
            close=arr[:, 4].copy(),
            volume=arr[:, 5].copy(),
            timeframe_ms=timeframe_ms,
        )

    def slice(self, start: int | None = None, stop: int | None = None) -> Candles:
        s = slice(start, stop)
        return Candles(
            self.open_time[s],
            self.open[s],
            self.high[s],
            self.low[s],
            self.close[s],
            self.volume[s],
            self.timeframe_ms,
        )

    def closed_before(self, now_ms: int) -> Candles:
        """Only the candles whose close time is at or before ``now_ms``."""
        n = int(np.searchsorted(self.open_time + self.timeframe_ms, now_ms, side="right"))
        return self.slice(0, n)

    def merge(self, newer: Candles, *, keep_last: int | None = None) -> Candles:
        """Append ``newer``; where open times overlap the newer row wins."""
        if len(newer) == 0:
            merged = self
        elif len(self) == 0:
            merged = newer
        else:
            cut = int(np.searchsorted(self.open_time, newer.open_time[0], side="left"))
            head = self.slice(0, cut)
            merged = Candles(
                np.concatenate([head.open_time, newer.open_time]),
                np.concatenate([head.open, newer.open]),
                np.concatenate([head.high, newer.high]),
                np.concatenate([head.low, newer.low]),
                np.concatenate([head.close, newer.close]),
                np.concatenate([head.volume, newer.volume]),
                self.timeframe_ms,
            )
        if keep_last is not None and len(merged) > keep_last:
            merged = merged.slice(len(merged) - keep_last, None)
        return merged

    def is_contiguous(self) -> bool:
        """True when every candle follows the previous one by exactly one timeframe."""
        if len(self) < 2:
            return True
        return bool(np.all(np.diff(self.open_time) == self.timeframe_ms))


@dataclass(frozen=True, slots=True)
class FundingRate:
    """One contract's funding state as the exchange reported it."""

    symbol: str
    exchange: str
    funding_rate: float
    funding_interval_h: int  # 1, 4 or 8 -- from the exchange, never assumed
    next_funding_time_ms: int
    mark_price: float
    index_price: float
    timestamp_ms: int  # when the exchange produced these values
    # where the interval came from, e.g. "fundingInfo", "binance default (absent from
    # fundingInfo)", "tickers.fundingIntervalHour", "nextFundingTime - fundingTime"
    interval_source: str | None = None
    # the exchange's own fields behind these values, per endpoint (provenance, not compared)
    raw: dict[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)
