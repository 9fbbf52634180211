"""Funding of OKX USDT perpetuals: three all-instrument requests per snapshot.

OKX has no single endpoint with funding, mark and index price together:

- ``fetch_funding_rates()`` -> ``GET /api/v5/public/funding-rate?instId=ANY``: every swap's
  ``fundingRate``, ``fundingTime`` (the next settlement) and ``nextFundingTime`` (the one
  after) in one response; the interval is ``nextFundingTime - fundingTime``, as OKX's docs
  tell clients to derive it (https://www.okx.com/docs-v5/en/#public-data-rest-api-get-funding-rate).
- ``fetch_mark_prices()`` -> ``GET /api/v5/public/mark-price?instType=SWAP`` (``markPx``).
- ``public_get_market_index_tickers({"quoteCcy": "USDT"})`` -> ``GET
  /api/v5/market/index-tickers?quoteCcy=USDT`` (``idxPx`` per index, e.g. ``BTC-USDT``, the
  swap's ``uly``); ccxt has no unified call for it, the implicit method still goes through
  its rate limiter and error handling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from perpwatch.market.exchanges.base import (
    ExchangeFacts,
    build,
    collect,
    hours_from_ms,
    num,
    skip,
    whole,
)
from perpwatch.market.types import Contract, FundingRate

logger = logging.getLogger(__name__)

EXCHANGE = "okx"


async def fetch_funding(client: Any, contracts: Mapping[str, Contract]) -> list[FundingRate]:
    """Funding state of ``contracts`` (USDT perpetuals of ``client``, a ccxt okx)."""
    rates, marks, index_response = await asyncio.gather(
        client.fetch_funding_rates(),
        client.fetch_mark_prices(),
        client.public_get_market_index_tickers({"quoteCcy": "USDT"}),
    )
    indices = {i.get("instId"): i for i in index_response.get("data") or [] if isinstance(i, dict)}
    out: list[FundingRate | None] = []
    for c in contracts.values():
        entry = rates.get(c.ccxt_symbol)
        if entry is None:
            skip(c, "not in funding-rate?instId=ANY")
            out.append(None)
            continue
        info: dict[str, Any] = entry.get("info") or {}
        market_info = (client.markets or {}).get(c.ccxt_symbol, {}).get("info") or {}
        mark_info = (marks.get(c.ccxt_symbol) or {}).get("info") or {}
        index_info = indices.get(market_info.get("uly") or f"{c.base}-{c.quote}") or {}
        next_ms, after_ms = whole(info.get("fundingTime")), whole(info.get("nextFundingTime"))
        interval_ms = after_ms - next_ms if next_ms and after_ms else None
        out.append(
            build(
                c,
                rate=num(info.get("fundingRate")),
                interval_h=hours_from_ms(interval_ms),
                next_ms=next_ms,
                mark=num(mark_info.get("markPx")),
                index=num(index_info.get("idxPx")),
                timestamp_ms=whole(info.get("ts")),
                interval_source="nextFundingTime - fundingTime",
                raw={
                    "funding-rate": info,
                    "mark-price": mark_info or None,
                    "index-tickers": index_info or None,
                },
            )
        )
    return collect(EXCHANGE, out, len(contracts))


# USDT perpetuals are OKX's "SWAP" instrument type: load only those markets
FACTS = ExchangeFacts(EXCHANGE, fetch_funding, client_options={"fetchMarkets": {"types": ["swap"]}})
