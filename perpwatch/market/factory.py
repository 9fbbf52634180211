"""Build the market adapters named by the settings: one per exchange, shared in the process."""

from __future__ import annotations

import time
from collections.abc import Callable

from perpwatch.market.base import MarketData
from perpwatch.market.sim.market import SimMarket
from perpwatch.settings import Settings


def build_market(
    settings: Settings, *, exchange: str | None = None, clock: Callable[[], float] = time.time
) -> MarketData:
    """The adapter for ``exchange`` (default: ``MARKET``)."""
    name = exchange or settings.market
    if name == "sim":
        return SimMarket(seed=settings.sim_seed, n_symbols=settings.sim_symbols, clock=clock)
    # imported here: ccxt loads every exchange it knows, seconds of start-up the sim never needs
    from perpwatch.market.ccxt.market import CcxtMarket

    return CcxtMarket(
        name,
        api_url=settings.api_url_for(name),
        timeout_s=settings.exchange_timeout_s,
        retries=settings.exchange_retries,
        weight_limit=settings.exchange_weight_limit,
        weight_headroom=settings.exchange_weight_headroom,
        breaker_failures=settings.exchange_breaker_failures,
        breaker_probe_s=settings.exchange_breaker_probe_s,
        clock=clock,
    )


def build_markets(
    settings: Settings, *, clock: Callable[[], float] = time.time
) -> dict[str, MarketData]:
    """``MARKET`` first, then every other funding exchange; one client per exchange."""
    names = [settings.market, *(n for n in settings.funding_sources if n != settings.market)]
    return {n: build_market(settings, exchange=n, clock=clock) for n in names}
