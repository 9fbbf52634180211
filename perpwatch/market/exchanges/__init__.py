"""What perpwatch knows per exchange, one small module each, over a shared base.

Each module holds that exchange's :class:`~perpwatch.market.exchanges.base.ExchangeFacts`:
its funding parser ``fetch_funding(client, contracts)``, which makes the exchange's
all-symbol requests through the given ccxt client (so its rate limiter and error mapping
apply) and returns :class:`~perpwatch.market.types.FundingRate` values built only from
what the exchange said, and the ccxt client settings that differ between exchanges.
"""

from __future__ import annotations

from perpwatch.market.exchanges import binance, bybit, okx
from perpwatch.market.exchanges.base import ExchangeFacts, Fetcher

EXCHANGES: dict[str, ExchangeFacts] = {f.id: f for f in (binance.FACTS, bybit.FACTS, okx.FACTS)}


def facts_for(exchange_id: str) -> ExchangeFacts | None:
    """The facts of ccxt exchange ``exchange_id``, or None if perpwatch has none."""
    return EXCHANGES.get(exchange_id)


__all__ = ["EXCHANGES", "ExchangeFacts", "Fetcher", "facts_for"]
