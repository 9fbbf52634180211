"""Funding-rate snapshots of every USDT perpetual, one small adapter module per exchange.

Each module's ``fetch_funding(client, contracts)`` makes the exchange's all-symbol requests
through the given ccxt client (so its rate limiter and error mapping apply) and returns
:class:`~perpwatch.market.types.FundingRate` values built only from what the exchange said.
"""

from __future__ import annotations

from perpwatch.market.funding import binance, bybit, okx
from perpwatch.market.funding.base import Fetcher

FETCHERS: dict[str, Fetcher] = {
    "binanceusdm": binance.fetch_funding,
    "bybit": bybit.fetch_funding,
    "okx": okx.fetch_funding,
}


def fetcher_for(exchange_id: str) -> Fetcher | None:
    """The funding adapter of ccxt exchange ``exchange_id``, or None if there is none."""
    return FETCHERS.get(exchange_id)


__all__ = ["FETCHERS", "Fetcher", "fetcher_for"]
