"""``SimMarket``: the :class:`~perpwatch.market.base.MarketData` port over the simulator.

It answers like an exchange would at the injected clock's "now": candles up to now (the
last one still open), 24h volumes from the rolling window, funding of the current period.
No network, no randomness; the only input that moves is the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from perpwatch.errors import InvalidInput, UnknownSymbol
from perpwatch.market.sim.model import (
    EXCHANGE,
    SimSymbol,
    SimUniverse,
    sim_candles,
    sim_funding,
    sim_ticker_24h,
)
from perpwatch.market.types import Candles, Contract, ExchangeState, FundingRate
from perpwatch.symbols import normalize_symbol
from perpwatch.types import timeframe_ms

MAX_CANDLES = 1500  # what Binance USD-M serves per klines request


class SimMarket:
    """Deterministic in-process market data; ``calls`` counts each method's calls."""

    def __init__(
        self, *, seed: int = 42, n_symbols: int = 160, clock: Callable[[], float] = time.time
    ) -> None:
        self.universe = SimUniverse(seed, n_symbols)
        self._clock = clock
        self.calls: Counter[str] = Counter()
        self.candles_served = 0  # total candle rows returned by fetch_candles

    @property
    def name(self) -> str:
        return EXCHANGE

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _symbol(self, symbol: str) -> SimSymbol:
        try:
            return self.universe.get(normalize_symbol(symbol))
        except InvalidInput:
            raise UnknownSymbol(str(symbol)) from None

    async def listed_symbols(self) -> set[str]:
        return {s.symbol for s in self.universe.symbols}

    async def server_time_ms(self) -> int:
        """The simulator's clock is the exchange's."""
        return self.now_ms()

    def exchange_state(self) -> ExchangeState:
        """No breaker and no weight: the simulator has no limits."""
        return ExchangeState(name=EXCHANGE)

    async def list_perpetuals(self) -> list[Contract]:
        """Every simulated contract, highest rolling-24h quote volume first."""
        self.calls["list_perpetuals"] += 1
        now = self.now_ms()

        def compute() -> list[Contract]:
            contracts = [
                Contract(
                    symbol=s.symbol,
                    exchange=EXCHANGE,
                    ccxt_symbol=s.ccxt_symbol,
                    base=s.base,
                    quote="USDT",
                    quote_volume_24h=sim_ticker_24h(self.universe, s.symbol, now).quote_volume,
                )
                for s in self.universe
            ]
            contracts.sort(key=lambda c: (-c.quote_volume_24h, c.symbol))
            return contracts

        return await asyncio.to_thread(compute)

    async def fetch_candles(
        self, symbol: str, *, timeframe: str, since_ms: int | None, limit: int
    ) -> Candles:
        """Like Binance klines: from ``since_ms`` (rounded up to a candle boundary), else the
        most recent ``limit``; never a candle opening after now; the last may be open."""
        self.calls["fetch_candles"] += 1
        s = self._symbol(symbol)
        tf = timeframe_ms(timeframe)
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        limit = min(limit, MAX_CANDLES)
        now = self.now_ms()
        # the most recent ``limit`` candles, or from since_ms rounded up to a candle boundary
        start = (now // tf - limit + 1) * tf if since_ms is None else -(-since_ms // tf) * tf
        candles = sim_candles(
            self.universe, s.symbol, timeframe_ms=tf, start_open_ms=start, count=limit, now_ms=now
        )
        self.candles_served += len(candles)
        return candles

    async def fetch_funding_rates(self) -> list[FundingRate]:
        """The funding state of every contract at now."""
        self.calls["fetch_funding_rates"] += 1
        now = self.now_ms()

        def compute() -> list[FundingRate]:
            return [sim_funding(self.universe, s.symbol, now) for s in self.universe]

        # tens of milliseconds of numpy for 160 contracts: off the event loop, as the
        # network wait of a real exchange would be
        return await asyncio.to_thread(compute)

    async def close(self) -> None:
        self.calls["close"] += 1
