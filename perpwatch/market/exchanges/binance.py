"""Funding of Binance USD-M perpetuals: two all-symbol requests per snapshot.

- ``fetch_funding_rates()`` -> ``GET /fapi/v1/premiumIndex`` without a symbol (weight 10):
  ``lastFundingRate``, ``nextFundingTime``, ``markPrice``, ``indexPrice``, ``time`` of every
  contract (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Mark-Price).
- ``fetch_funding_intervals()`` -> ``GET /fapi/v1/fundingInfo`` (weight 1): only the
  contracts whose funding interval or caps were adjusted, with ``fundingIntervalHours``
  (https://developers.binance.com/docs/derivatives/usds-margined-futures/market-data/rest-api/Get-Funding-Rate-Info).
  A contract absent from it pays on Binance's standard 8-hour schedule; that default is
  used only when the contract's ``nextFundingTime`` lies on the 8-hour grid, else skipped.

ccxt (4.5) puts ``nextFundingTime`` into ``fundingTimestamp`` and leaves
``nextFundingTimestamp`` and ``interval`` empty, so this module reads the raw fields.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from perpwatch.market.exchanges.base import HOUR_MS, ExchangeFacts, build, collect, num, skip, whole
from perpwatch.market.types import Contract, FundingRate

logger = logging.getLogger(__name__)

EXCHANGE = "binanceusdm"

DEFAULT_INTERVAL_H = 8  # Binance's standard schedule: 00:00, 08:00, 16:00 UTC


async def fetch_funding(client: Any, contracts: Mapping[str, Contract]) -> list[FundingRate]:
    """Funding state of ``contracts`` (USDT perpetuals of ``client``, a ccxt binanceusdm)."""
    rates, intervals = await asyncio.gather(
        client.fetch_funding_rates(), client.fetch_funding_intervals()
    )
    out: list[FundingRate | None] = []
    for c in contracts.values():
        entry = rates.get(c.ccxt_symbol)
        if entry is None:
            skip(c, "not in premiumIndex")
            out.append(None)
            continue
        info: dict[str, Any] = entry.get("info") or {}
        adjusted = (intervals.get(c.ccxt_symbol) or {}).get("info")
        next_ms = whole(info.get("nextFundingTime"))
        if adjusted is not None:
            interval_h, source = whole(adjusted.get("fundingIntervalHours")), "fundingInfo"
        elif next_ms is not None and next_ms % (DEFAULT_INTERVAL_H * HOUR_MS):
            skip(c, "not in fundingInfo, yet nextFundingTime is off the standard 8h grid")
            out.append(None)
            continue
        else:
            interval_h, source = DEFAULT_INTERVAL_H, "binance standard 8h (not in fundingInfo)"
        out.append(
            build(
                c,
                rate=num(info.get("lastFundingRate")),
                interval_h=interval_h,
                next_ms=next_ms,
                mark=num(info.get("markPrice")),
                index=num(info.get("indexPrice")),
                timestamp_ms=whole(info.get("time")),
                interval_source=source,
                raw={"premiumIndex": info, "fundingInfo": adjusted},
            )
        )
    return collect(EXCHANGE, out, len(contracts))


# Binance reports the IP's used weight in X-MBX-USED-WEIGHT-1M; 2400 per minute is published
FACTS = ExchangeFacts(EXCHANGE, fetch_funding, weight_header_limit=2400)
