"""The current state of each channel, read from the cache: what a snapshot carries.

* ``signals``: every subscribed symbol's analysis of each subscribed timeframe as
  ``analyze-symbol`` would serve it (cached, with its age and staleness); with no symbols
  named, every cached one.
* ``funding``: each exchange's stored table (``funding:rates:<exchange>``: exchange,
  ``fetched_at_ms``, rows), its rows cut to the subscribed symbols when symbols are named.
* ``arbitrage``: the view published last (``funding:arbitrage``), opportunities cut the
  same way.

Texts are passed on as stored; only a cut by symbols decodes, and it runs in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from perpwatch.analysis.service import AnalysisService
from perpwatch.cache.failover import FailoverCache
from perpwatch.constants import FUNDING_ARBITRAGE_KEY, funding_rates_key
from perpwatch.push.cuts import cut_arbitrage, cut_table
from perpwatch.push.events import Channel
from perpwatch.push.session import Scope


class CacheState:
    """``services``: each timeframe's analyses, the primary first."""

    def __init__(
        self,
        services: dict[str, AnalysisService],
        cache: FailoverCache,
        *,
        exchanges: Callable[[], list[str]],
    ) -> None:
        self._services = services
        self._cache = cache
        self._exchanges = exchanges

    async def items(self, channel: Channel, scope: Scope) -> list[str]:
        if channel == "signals":
            return await self._signals(scope)
        if channel == "funding":
            return await self._cut(
                [funding_rates_key(ex) for ex in self._exchanges()], scope, cut_table
            )
        return await self._cut([FUNDING_ARBITRAGE_KEY], scope, cut_arbitrage)

    async def _signals(self, scope: Scope) -> list[str]:
        out: list[str] = []
        for tf, service in self._services.items():
            if scope.timeframes is not None and tf not in scope.timeframes:
                continue
            symbols = (
                sorted(scope.symbols) if scope.symbols is not None
                else await service.cached_symbols()
            )  # fmt: skip
            texts = await service.cached_responses(symbols)
            out.extend(t for t in texts if t is not None)
        return out

    async def _cut(
        self, keys: list[str], scope: Scope, cut: Callable[[str, frozenset[str]], str]
    ) -> list[str]:
        hits = await self._cache.mget(keys)
        texts = [h.value for h in hits if h is not None]
        if scope.symbols is None or not texts:
            return texts
        symbols = scope.symbols
        return await asyncio.to_thread(lambda: [cut(t, symbols) for t in texts])
