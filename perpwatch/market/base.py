"""The port every market adapter implements."""

from __future__ import annotations

from typing import Protocol

from perpwatch.market.types import Candles, Contract, ExchangeState, FundingRate


class MarketData(Protocol):
    """Read-only market data for one exchange.

    Every method raises :class:`perpwatch.errors.ExchangeError` subclasses, never a
    library's own exception types.
    """

    @property
    def name(self) -> str: ...

    async def list_perpetuals(self) -> list[Contract]:
        """Active USDT-settled linear perpetuals, highest 24h quote volume first."""
        ...

    async def fetch_candles(
        self, symbol: str, *, timeframe: str, since_ms: int | None, limit: int
    ) -> Candles:
        """Up to ``limit`` candles from ``since_ms`` (or the most recent ``limit`` when
        ``since_ms`` is None), ascending; the last one may still be open."""
        ...

    async def fetch_funding_rates(self) -> list[FundingRate]:
        """Funding state of every listed perpetual, in as few requests as the exchange allows."""
        ...

    async def listed_symbols(self) -> set[str]:
        """The canonical symbols of every listed perpetual (the cheapest way to know them)."""
        ...

    async def server_time_ms(self) -> int:
        """The exchange's clock now, in epoch milliseconds (its server-time endpoint)."""
        ...

    def exchange_state(self) -> ExchangeState:
        """The breaker and the weight used, as this client knows them now."""
        ...

    async def close(self) -> None: ...
