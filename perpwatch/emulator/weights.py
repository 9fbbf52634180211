"""Request weights and the per-minute weight counter of Binance USD-M futures.

The table mirrors Binance's "Request Weight" notes for each market-data endpoint
(https://developers.binance.com/docs/derivatives/usds-margined-futures). Binance counts
weight per IP in fixed UTC-minute windows and reports the window's total in the
``X-MBX-USED-WEIGHT-1M`` response header; exceeding ``REQUEST_WEIGHT_LIMIT_1M`` earns
HTTP 429 with ``Retry-After`` and, for repeat offenders, HTTP 418 (an IP ban).

This module counts; :mod:`perpwatch.emulator.limits` enforces the limit (429, 418).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REQUEST_WEIGHT_LIMIT_1M = 2400
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
KLINES_DEFAULT_LIMIT = 500

# path -> (weight with symbol, weight without symbol)
_SYMBOL_WEIGHTS: dict[str, tuple[int, int]] = {
    "/fapi/v1/ticker/24hr": (1, 40),
    "/fapi/v1/ticker/price": (1, 2),
    "/fapi/v2/ticker/price": (1, 2),
    "/fapi/v1/premiumIndex": (1, 10),
}
_FLAT_WEIGHTS: dict[str, int] = {
    "/fapi/v1/ping": 1,
    "/fapi/v1/time": 1,
    "/fapi/v1/exchangeInfo": 1,
    "/fapi/v1/fundingInfo": 1,
    "/fapi/v1/fundingRate": 1,
}


def klines_weight(limit: int) -> int:
    """Weight of ``GET /fapi/v1/klines`` by ``limit``: [1,100) 1, [100,500) 2, [500,1000] 5,
    above 1000 10."""
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    if limit <= 1000:
        return 5
    return 10


def request_weight(path: str, params: Mapping[str, str]) -> int:
    """The weight Binance charges for one request (unknown paths cost 1)."""
    if path == "/fapi/v1/klines":
        raw = params.get("limit", "")
        limit = int(raw) if raw.isdigit() else KLINES_DEFAULT_LIMIT
        return klines_weight(limit)
    if path in _SYMBOL_WEIGHTS:
        with_symbol, without = _SYMBOL_WEIGHTS[path]
        return with_symbol if params.get("symbol") else without
    return _FLAT_WEIGHTS.get(path, 1)


def weight_header(window_s: int) -> str:
    """``X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter)`` for a window of ``window_s``."""
    if window_s % 60 == 0:
        return f"X-MBX-USED-WEIGHT-{window_s // 60}M"
    return f"X-MBX-USED-WEIGHT-{window_s}S"


class WeightCounter:
    """Weight used in the current fixed window (a UTC minute by default) by one IP.

    ``record`` adds a request's weight and returns the window's total, the value of
    ``X-MBX-USED-WEIGHT-1M``. Windows are aligned to the epoch, as Binance aligns its
    minutes: a request at 00:01:23.456 counts towards the 00:01:00 minute.
    """

    def __init__(self, limit: int = REQUEST_WEIGHT_LIMIT_1M, *, window_s: int = 60) -> None:
        self.limit = limit
        self.window_s = window_s
        self._window = -1
        self._used = 0

    def window_of(self, now_s: float) -> int:
        return int(now_s // self.window_s)

    def window_end(self, now_s: float) -> float:
        return float((self.window_of(now_s) + 1) * self.window_s)

    def record(self, weight: int, now_s: float) -> int:
        window = self.window_of(now_s)
        if window != self._window:
            self._window, self._used = window, 0
        self._used += weight
        return self._used

    def used(self, now_s: float) -> int:
        return self._used if self.window_of(now_s) == self._window else 0

    def close_finished(self, now_s: float) -> tuple[float, int] | None:
        """(start, total) of the window that ended before ``now_s``, once; else None."""
        if self._window < 0 or self._window == self.window_of(now_s):
            return None
        finished = (float(self._window * self.window_s), self._used)
        self.reset()
        return finished

    def reset(self) -> None:
        self._window, self._used = -1, 0


@dataclass
class EmulatorStats:
    """What clients asked for since the last reset (served at ``GET /_emulator/stats``)."""

    requests: Counter[str] = field(default_factory=Counter)
    weight_by_path: Counter[str] = field(default_factory=Counter)
    weight_total: int = 0
    klines_limits: list[int] = field(default_factory=list)
    # klines by candle interval: requests and their weight (several timeframes)
    klines_by_interval: Counter[str] = field(default_factory=Counter)
    klines_weight_by_interval: Counter[str] = field(default_factory=Counter)

    def record(self, path: str, weight: int, params: Mapping[str, str]) -> None:
        self.requests[path] += 1
        self.weight_by_path[path] += weight
        self.weight_total += weight
        if path == "/fapi/v1/klines":
            raw = params.get("limit", "")
            self.klines_limits.append(int(raw) if raw.isdigit() else KLINES_DEFAULT_LIMIT)
            interval = str(params.get("interval", ""))[:8]
            self.klines_by_interval[interval] += 1
            self.klines_weight_by_interval[interval] += weight

    def reset(self) -> None:
        self.requests.clear()
        self.weight_by_path.clear()
        self.weight_total = 0
        self.klines_limits.clear()
        self.klines_by_interval.clear()
        self.klines_weight_by_interval.clear()

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "weight_total": self.weight_total,
            "weight_by_path": dict(self.weight_by_path),
            "klines_limits": list(self.klines_limits),
            "klines_by_interval": dict(self.klines_by_interval),
            "klines_weight_by_interval": dict(self.klines_weight_by_interval),
        }
