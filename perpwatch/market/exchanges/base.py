"""What the per-exchange modules share: the facts record, and the funding parsers' field
parsing, validation and skip logging.

Every adapter reads the exchange's own fields (ccxt's parsed structures keep them under
``info``) and builds :class:`~perpwatch.market.types.FundingRate` only from values the
exchange reported. A contract with a missing or contradictory value is skipped, and the
reason logged once per process (then at debug level), never filled in with a guess.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from perpwatch.market.types import Contract, FundingRate

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
Fetcher = Callable[[Any, Mapping[str, Contract]], Awaitable[list[FundingRate]]]

_logged: set[tuple[str, str, str]] = set()


@dataclass(frozen=True, slots=True)
class ExchangeFacts:
    """What perpwatch knows about one ccxt exchange: its funding parser and the client
    settings that differ between exchanges."""

    id: str  # the ccxt exchange id, e.g. binanceusdm
    fetch_funding: Fetcher
    # ccxt options of this exchange, merged over {"defaultType": "swap"}: load only the
    # markets perpwatch uses
    client_options: Mapping[str, Any] = field(default_factory=dict)
    # the IP's published request weight limit per minute, when the exchange reports the
    # used weight in X-MBX-USED-WEIGHT-* headers (exchangeInfo.rateLimits replaces it)
    weight_header_limit: int | None = None


def num(value: Any) -> float | None:
    """A finite float from an exchange field (``"0.0001"`` or ``0.0001``); None for ``""``,
    None, garbage or non-finite values."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def whole(value: Any) -> int | None:
    """A positive integer (epoch ms, hours) from ``"1750003200000"`` or an int; None for
    ``""``, ``"0"``, None, fractions and garbage."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        out = int(str(value))
    except ValueError:
        return None
    return out if out > 0 else None


def hours_from_ms(interval_ms: int | None) -> int | None:
    """Whole hours of a positive interval in milliseconds, else None."""
    if interval_ms is None or interval_ms <= 0 or interval_ms % HOUR_MS:
        return None
    return interval_ms // HOUR_MS


def skip(contract: Contract, reason: str) -> None:
    """Log once per process that ``contract`` is left out of the funding snapshot."""
    key = (contract.exchange, contract.symbol, reason)
    if key in _logged:
        logger.debug("%s %s: funding skipped: %s", contract.exchange, contract.symbol, reason)
        return
    _logged.add(key)
    logger.warning("%s %s: funding skipped: %s", contract.exchange, contract.symbol, reason)


def build(
    contract: Contract,
    *,
    rate: float | None,
    interval_h: int | None,
    next_ms: int | None,
    mark: float | None,
    index: float | None,
    timestamp_ms: int | None,
    interval_source: str,
    raw: dict[str, Any],
) -> FundingRate | None:
    """The :class:`FundingRate` of ``contract``, or None (skip logged) if a value is missing."""
    values = {"funding rate": rate, "funding interval": interval_h, "next funding time": next_ms,
              "mark price": mark, "index price": index, "timestamp": timestamp_ms}  # fmt: skip
    if (rate is None or interval_h is None or next_ms is None or mark is None or index is None
            or timestamp_ms is None):  # fmt: skip
        missing = ", ".join(name for name, v in values.items() if v is None)
        skip(contract, f"the exchange did not report its {missing}")
        return None
    if mark <= 0 or index <= 0:
        skip(contract, "the exchange reported a non-positive mark or index price")
        return None
    return FundingRate(
        symbol=contract.symbol,
        exchange=contract.exchange,
        funding_rate=rate,
        funding_interval_h=interval_h,
        next_funding_time_ms=next_ms,
        mark_price=mark,
        index_price=index,
        timestamp_ms=timestamp_ms,
        interval_source=interval_source,
        raw=raw,
    )


def collect(exchange: str, rates: list[FundingRate | None], listed: int) -> list[FundingRate]:
    """The built rates, with one debug line on how many of ``listed`` contracts made it."""
    out = [r for r in rates if r is not None]
    logger.debug("%s: funding of %d of %d contracts", exchange, len(out), listed)
    return out
