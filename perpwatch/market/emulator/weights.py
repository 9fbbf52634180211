"""Request weights and the per-minute weight counter of Binance USD-M futures.

The table mirrors Binance's "Request Weight" notes for each market-data endpoint
(https://developers.binance.com/docs/derivatives/usds-margined-futures). Binance counts
weight per IP in fixed UTC-minute windows and reports the window's total in the
``X-MBX-USED-WEIGHT-1M`` response header; exceeding ``REQUEST_WEIGHT_LIMIT_1M`` earns
HTTP 429 with ``Retry-After`` and, for repeat offenders, HTTP 418 (an IP ban).

This module only counts. Enforcement (429/418) and fault injection are for a later
change: :meth:`WeightCounter.record` is the single place every request passes through.
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


class WeightCounter:
    """Weight used in the current UTC minute (all clients together: the emulator is one IP).

    ``record`` adds a request's weight and returns the minute's total, the value of
    ``X-MBX-USED-WEIGHT-1M``. A later change can enforce ``limit`` here (429 with
    ``Retry-After`` until the minute ends, 418 after repeated violations).
    """

    def __init__(self, limit: int = REQUEST_WEIGHT_LIMIT_1M) -> None:
        self.limit = limit
        self._minute = -1
        self._used = 0

    def record(self, weight: int, now_s: float) -> int:
        minute = int(now_s // 60)
        if minute != self._minute:
            self._minute, self._used = minute, 0
        self._used += weight
        return self._used

    def used(self, now_s: float) -> int:
        return self._used if int(now_s // 60) == self._minute else 0

    def reset(self) -> None:
        self._minute, self._used = -1, 0


@dataclass
class EmulatorStats:
    """What clients asked for since the last reset (served at ``GET /_emulator/stats``)."""

    requests: Counter[str] = field(default_factory=Counter)
    weight_by_path: Counter[str] = field(default_factory=Counter)
    weight_total: int = 0
    klines_limits: list[int] = field(default_factory=list)

    def record(self, path: str, weight: int, params: Mapping[str, str]) -> None:
        self.requests[path] += 1
        self.weight_by_path[path] += weight
        self.weight_total += weight
        if path == "/fapi/v1/klines":
            raw = params.get("limit", "")
            self.klines_limits.append(int(raw) if raw.isdigit() else KLINES_DEFAULT_LIMIT)

    def reset(self) -> None:
        self.requests.clear()
        self.weight_by_path.clear()
        self.weight_total = 0
        self.klines_limits.clear()

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "weight_total": self.weight_total,
            "weight_by_path": dict(self.weight_by_path),
            "klines_limits": list(self.klines_limits),
        }
