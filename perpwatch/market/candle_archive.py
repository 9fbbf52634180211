"""Candle histories kept in Redis, so that any worker extends a symbol's history
incrementally, whichever worker fetched it last (and after a restart).

``hama:candles:<tf>:<SYMBOL>`` holds a small binary record: a 4-byte magic, the
timeframe in ms and the row count, then the six columns as little-endian float64
(epoch-ms open times are exact in a float64). Decoding checks the length, so a truncated
or foreign value is treated as absent, never as candles.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import numpy as np

from perpwatch.constants import candles_key
from perpwatch.errors import CacheUnavailable
from perpwatch.market.types import Candles
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

logger = logging.getLogger(__name__)

MAGIC = b"PWC1"
_HEADER = struct.Struct("<4sqq")  # magic, timeframe_ms, rows
COLUMNS = 6


def encode_candles(candles: Candles) -> bytes:
    cols = np.stack(
        [
            candles.open_time.astype(np.float64),
            candles.open,
            candles.high,
            candles.low,
            candles.close,
            candles.volume,
        ]
    ).astype("<f8", copy=False)
    return _HEADER.pack(MAGIC, candles.timeframe_ms, len(candles)) + cols.tobytes()


def decode_candles(raw: bytes) -> Candles | None:
    """The candles in ``raw``, or ``None`` when it is not a whole record."""
    if len(raw) < _HEADER.size:
        return None
    magic, tf_ms, rows = _HEADER.unpack_from(raw)
    if magic != MAGIC or rows < 0 or len(raw) != _HEADER.size + rows * COLUMNS * 8:
        return None
    cols = np.frombuffer(raw, dtype="<f8", offset=_HEADER.size).reshape(COLUMNS, rows)
    return Candles(
        open_time=cols[0].astype(np.int64),
        open=cols[1].astype(np.float64),
        high=cols[2].astype(np.float64),
        low=cols[3].astype(np.float64),
        close=cols[4].astype(np.float64),
        volume=cols[5].astype(np.float64),
        timeframe_ms=int(tf_ms),
    )


class RedisCandleArchive:
    def __init__(self, client: RedisClient, *, timeframe: str, ttl_s: float) -> None:
        self._client = client
        self._timeframe = timeframe
        self._ttl_ms = max(1000, round(ttl_s * 1000))

    async def load(self, symbol: str) -> Candles | None:
        try:
            raw: Any = await self._client.get(candles_key(self._timeframe, symbol))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"candle archive GET: {e or type(e).__name__}") from e
        if raw is None:
            return None
        candles = decode_candles(bytes(raw))
        if candles is None:
            logger.warning("ignoring a malformed candle record for %s", symbol)
        return candles

    async def save(self, symbol: str, candles: Candles) -> None:
        try:
            await self._client.set(
                candles_key(self._timeframe, symbol), encode_candles(candles), px=self._ttl_ms
            )
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"candle archive SET: {e or type(e).__name__}") from e

    async def forget(self, symbol: str) -> None:
        try:
            await self._client.delete(candles_key(self._timeframe, symbol))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"candle archive DEL: {e or type(e).__name__}") from e
