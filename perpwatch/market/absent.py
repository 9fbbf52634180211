"""The market of an API-only process: it has no exchange client at all.

An API replica computes nothing (the workers do), so it opens no exchange client (ccxt
is not even imported) and no candle history is loaded into it. Should anything still ask
it for market data -- a task run in-process while Redis is down -- the answer is a clear
"not available here", never a made-up value.
"""

from __future__ import annotations

from perpwatch.errors import ExchangeError
from perpwatch.market.types import Candles, Contract, ExchangeState, FundingRate


class AbsentMarket:
    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def _refuse(self) -> ExchangeError:
        return ExchangeError(
            f"{self._name}: this API-only process has no exchange client; "
            "the workers compute (is a worker running, and is Redis up?)"
        )

    async def list_perpetuals(self) -> list[Contract]:
        raise self._refuse()

    async def fetch_candles(
        self, symbol: str, *, timeframe: str, since_ms: int | None, limit: int
    ) -> Candles:
        raise self._refuse()

    async def fetch_funding_rates(self) -> list[FundingRate]:
        raise self._refuse()

    async def listed_symbols(self) -> set[str]:
        raise self._refuse()

    async def server_time_ms(self) -> int:
        raise self._refuse()

    def exchange_state(self) -> ExchangeState:
        return ExchangeState(name=self._name)

    async def close(self) -> None:
        return None
