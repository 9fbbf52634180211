"""Funding of Bybit USDT perpetuals: one all-symbol request per snapshot.

``fetch_funding_rates()`` -> ``GET /v5/market/tickers?category=linear``
(https://bybit-exchange.github.io/docs/v5/market/tickers): ``fundingRate``,
``nextFundingTime``, ``markPrice``, ``indexPrice`` and ``fundingIntervalHour`` of every
linear contract, stamped with the response's ``time``. ccxt (4.5) derives its ``interval``
from the markets' ``fundingInterval`` (minutes, from ``/v5/market/instruments-info`` at
load time), which can be hours stale when Bybit changes a schedule, so the ticker's own
``fundingIntervalHour`` wins; the loaded ``fundingInterval`` is the fallback for tickers
without it, and a contract with neither is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from perpwatch.market.exchanges.base import ExchangeFacts, build, collect, num, skip, whole
from perpwatch.market.types import Contract, FundingRate

logger = logging.getLogger(__name__)

EXCHANGE = "bybit"


async def fetch_funding(client: Any, contracts: Mapping[str, Contract]) -> list[FundingRate]:
    """Funding state of ``contracts`` (USDT perpetuals of ``client``, a ccxt bybit)."""
    rates = await client.fetch_funding_rates()
    out: list[FundingRate | None] = []
    for c in contracts.values():
        entry = rates.get(c.ccxt_symbol)
        if entry is None:
            skip(c, "not in the linear tickers")
            out.append(None)
            continue
        info: dict[str, Any] = entry.get("info") or {}
        market_info = (client.markets or {}).get(c.ccxt_symbol, {}).get("info") or {}
        interval_h, source = whole(info.get("fundingIntervalHour")), "tickers.fundingIntervalHour"
        if interval_h is None:
            minutes = whole(market_info.get("fundingInterval"))
            interval_h = minutes // 60 if minutes and minutes % 60 == 0 else None
            source = "instruments-info.fundingInterval (at market load)"
        out.append(
            build(
                c,
                rate=num(info.get("fundingRate")),
                interval_h=interval_h,
                next_ms=whole(info.get("nextFundingTime")),
                mark=num(info.get("markPrice")),
                index=num(info.get("indexPrice")),
                timestamp_ms=whole(entry.get("timestamp")),
                interval_source=source,
                raw={"tickers": info},
            )
        )
    return collect(EXCHANGE, out, len(contracts))


# USDT perpetuals live in Bybit's "linear" category: load only those markets
FACTS = ExchangeFacts(
    EXCHANGE, fetch_funding, client_options={"fetchMarkets": {"types": ["linear"]}}
)
