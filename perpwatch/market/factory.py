"""Build the market adapter named by the settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from perpwatch.market.base import MarketData
from perpwatch.market.sim_market import SimMarket
from perpwatch.settings import Settings


def build_market(settings: Settings, *, clock: Callable[[], float] = time.time) -> MarketData:
    if settings.market == "sim":
        return SimMarket(seed=settings.sim_seed, n_symbols=settings.sim_symbols, clock=clock)
    # imported here: ccxt loads every exchange it knows, seconds of start-up the sim never needs
    from perpwatch.market.ccxt_market import CcxtMarket

    return CcxtMarket(
        settings.market,
        api_url=settings.exchange_api_url,
        timeout_s=settings.exchange_timeout_s,
        retries=settings.exchange_retries,
        clock=clock,
    )
