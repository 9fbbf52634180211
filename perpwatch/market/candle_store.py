"""Per-symbol candle history, loaded once and then extended incrementally.

The first load of a symbol fetches ``history`` candles in one request (499 by default:
Binance's cheapest weight tier that still gives enough history, weight 2). After that,
a refresh asks only for the candles since the last one it holds (``limit`` under 100,
weight 1) and appends them. A gap too long for one small request triggers a full
reload rather than a hole in the history.

Nothing incomplete reaches the analysis: the history must be contiguous and reach the
last closed candle, or the snapshot fails (and the previous good analysis stays served,
marked stale). An answer with a missing row in the middle is refused, never bridged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from perpwatch.errors import CacheUnavailable, TemporaryExchangeError
from perpwatch.market.base import MarketData
from perpwatch.market.types import Candles
from perpwatch.types import timeframe_ms

logger = logging.getLogger(__name__)

INCREMENTAL_MAX_LIMIT = 99  # Binance klines weight 1 below 100


class CandleArchive(Protocol):
    """Where histories outlive this process and are shared with other workers (Redis)."""

    async def load(self, symbol: str) -> Candles | None: ...

    async def save(self, symbol: str, candles: Candles) -> None: ...


@dataclass(frozen=True, slots=True)
class CandleSnapshot:
    """Closed candles for analysis plus the live price seen in the same fetch."""

    closed: Candles
    live_price: float
    fetched_at_ms: int


class CandleStore:
    def __init__(
        self,
        market: MarketData,
        *,
        timeframe: str,
        history: int,
        clock: Callable[[], float] = time.time,
        archive: CandleArchive | None = None,
    ) -> None:
        self._market = market
        self._archive = archive
        self._timeframe = timeframe
        self._tf_ms = timeframe_ms(timeframe)
        self._history = history
        self._clock = clock
        self._candles: dict[str, Candles] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.full_loads = 0
        self.incremental_loads = 0

    @property
    def timeframe(self) -> str:
        return self._timeframe

    def forget(self, symbol: str) -> None:
        self._candles.pop(symbol, None)
        self._locks.pop(symbol, None)

    def retain_only(self, symbols: set[str]) -> None:
        """Drop history of symbols no longer watched (bounded memory)."""
        for s in list(self._candles):
            if s not in symbols:
                self.forget(s)

    def held(self, symbol: str) -> int:
        c = self._candles.get(symbol)
        return 0 if c is None else len(c)

    async def snapshot(self, symbol: str) -> CandleSnapshot:
        lock = self._locks.setdefault(symbol, asyncio.Lock())
        async with lock:
            now_ms = int(self._clock() * 1000)
            candles = await self._updated(symbol, now_ms)
            self._check_complete(symbol, candles, now_ms)
            self._candles[symbol] = candles
            if self._archive is not None:
                try:
                    await self._archive.save(symbol, candles)
                except CacheUnavailable as e:
                    logger.debug("%s: candle history not archived: %s", symbol, e)
        closed = candles.closed_before(now_ms)
        return CandleSnapshot(
            closed=closed, live_price=float(candles.close[-1]), fetched_at_ms=now_ms
        )

    def _check_complete(self, symbol: str, candles: Candles, now_ms: int) -> None:
        """Contiguous, and up to the last closed candle (allowing one timeframe of clock
        difference with the exchange); else TemporaryExchangeError and nothing is kept."""
        if len(candles) == 0:
            raise TemporaryExchangeError(f"exchange returned no candles for {symbol}")
        if not candles.is_contiguous():
            gap = int(np.argmax(np.diff(candles.open_time) != self._tf_ms))
            raise TemporaryExchangeError(
                f"{symbol}: candles from the exchange are not contiguous (after open time "
                f"{int(candles.open_time[gap])}); refused"
            )
        last_closed_open = (now_ms // self._tf_ms - 1) * self._tf_ms
        if int(candles.open_time[-1]) < last_closed_open:
            raise TemporaryExchangeError(
                f"{symbol}: candles from the exchange end at open time "
                f"{int(candles.open_time[-1])}, before the last closed one ({last_closed_open})"
            )

    async def held_closed(self, symbol: str) -> Candles | None:
        """The closed candles held of ``symbol`` (this process's, or the archive's when
        newer), without asking the exchange; None when none are held."""
        held = await self._held(symbol)
        if held is None or len(held) == 0:
            return None
        closed = held.closed_before(int(self._clock() * 1000))
        return closed if len(closed) > 0 else None

    async def _held(self, symbol: str) -> Candles | None:
        """The newer of this process's copy and the archive's (another worker may have
        extended it since)."""
        held = self._candles.get(symbol)
        if self._archive is None:
            return held
        try:
            archived = await self._archive.load(symbol)
        except CacheUnavailable as e:
            logger.debug("%s: candle archive unreadable: %s", symbol, e)
            return held
        if archived is None or len(archived) == 0 or archived.timeframe_ms != self._tf_ms:
            return held
        if held is None or len(held) == 0 or archived.open_time[-1] > held.open_time[-1]:
            return archived
        return held

    async def _updated(self, symbol: str, now_ms: int) -> Candles:
        held = await self._held(symbol)
        if held is not None and len(held) > 0:
            last_open = int(held.open_time[-1])
            missing = (now_ms - last_open) // self._tf_ms + 1  # incl. the still-open candle
            if missing <= INCREMENTAL_MAX_LIMIT:
                newer = await self._market.fetch_candles(
                    symbol, timeframe=self._timeframe, since_ms=last_open, limit=int(missing)
                )
                merged = held.merge(newer, keep_last=self._history)
                if merged.is_contiguous():
                    self.incremental_loads += 1
                    return merged
                logger.warning("%s: candle history has a gap; reloading it in full", symbol)
        fresh = await self._market.fetch_candles(
            symbol, timeframe=self._timeframe, since_ms=None, limit=self._history
        )
        self.full_loads += 1
        return fresh
