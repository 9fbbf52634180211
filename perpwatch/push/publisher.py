"""New analyses and funding tables become events: the computing side of the push.

Publishing never fails the computation it follows: a bus that does not answer (Redis
down) costs the event, which is counted and logged. The API's hub then resets its
clients to a snapshot once it reads again, so nobody keeps a state that missed it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable

from perpwatch.analysis.funding import arbitrage
from perpwatch.analysis.models import SignalChange
from perpwatch.api.schemas.funding import ArbitrageRow
from perpwatch.cache.failover import FailoverCache
from perpwatch.constants import FUNDING_ARBITRAGE_KEY
from perpwatch.errors import CacheUnavailable
from perpwatch.market.types import FundingRate
from perpwatch.push.bus import EventBus
from perpwatch.push.events import EventType
from perpwatch.timeutil import iso_ms

logger = logging.getLogger(__name__)


def arbitrage_view(rates: list[FundingRate], exchanges: list[str], now_ms: int) -> tuple[str, str]:
    """The arbitrage view as JSON text (the ``arbitrage`` event's data), and a digest of
    its opportunities (the times left out) to tell whether it changed."""
    rows = [ArbitrageRow.of(o).model_dump(mode="json") for o in arbitrage(rates)]
    digest = hashlib.blake2b(
        json.dumps(rows, separators=(",", ":")).encode(), digest_size=16
    ).hexdigest()
    doc = {
        "exchanges": exchanges,
        "count": len(rows),
        "opportunities": rows,
        "timestamp": iso_ms(now_ms),
        "timestamp_ms": now_ms,
    }
    return json.dumps(doc, separators=(",", ":")), digest


class Publisher:
    def __init__(
        self,
        bus: EventBus,
        cache: FailoverCache,
        *,
        exchanges: list[str],
        arbitrage_ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._cache = cache
        self._exchanges = exchanges
        self._arbitrage_ttl_s = arbitrage_ttl_s
        self._clock = clock
        self._arbitrage_digest: str | None = None
        self.published = 0
        self.failed = 0

    async def _publish(
        self, type_: EventType, data: str, symbol: str | None = None, timeframe: str | None = None
    ) -> None:
        try:
            await self._bus.publish(type_, data, symbol=symbol, timeframe=timeframe)
        except CacheUnavailable as e:
            self.failed += 1
            log = logger.warning if self.failed == 1 or self.failed % 100 == 0 else logger.debug
            log("push: %s event not published (%d so far): %s", type_, self.failed, e)
            return
        self.published += 1

    async def analysis(
        self, symbol: str, timeframe: str, data: str, change: SignalChange | None
    ) -> None:
        await self._publish("analysis", data, symbol, timeframe)
        if change is not None:
            text = change.model_dump_json(by_alias=True)
            await self._publish("signal_change", text, symbol, timeframe)

    async def funding(self, exchange: str, table: str) -> None:
        await self._publish("funding", table)

    async def arbitrage(self, rates: list[FundingRate]) -> None:
        now_ms = int(self._clock() * 1000)
        text, digest = await asyncio.to_thread(arbitrage_view, rates, self._exchanges, now_ms)
        if digest == self._arbitrage_digest:
            return
        self._arbitrage_digest = digest
        await self._cache.set(FUNDING_ARBITRAGE_KEY, text, ttl_s=self._arbitrage_ttl_s)
        await self._publish("arbitrage", text)
