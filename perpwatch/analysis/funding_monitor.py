"""The funding-rate monitor: fetch every exchange's funding state, cache it, serve snapshots.

One all-symbols request per exchange (see :mod:`perpwatch.market.exchanges`). Each
exchange's table is cached under ``funding:rates:{exchange}`` with the time of its data.
A refresh that cannot reach an exchange serves that exchange's last cached table instead,
marked ``data_source: cached`` with its age -- never values made up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from perpwatch.analysis.funding import apr_pct
from perpwatch.cache.failover import FailoverCache
from perpwatch.constants import funding_rates_key
from perpwatch.errors import DataNotAvailable, PerpwatchError
from perpwatch.market.types import FundingRate
from perpwatch.timeutil import iso_ms

logger = logging.getLogger(__name__)


class FundingSource(Protocol):
    @property
    def name(self) -> str: ...

    async def fetch_funding_rates(self) -> list[FundingRate]: ...


DataSource = Literal["real_time", "cached"]


class FundingContract(BaseModel):
    """One contract's funding state: a row of ``contracts`` and ``by_exchange``, and what
    the cached table holds per symbol."""

    symbol: str
    exchange: str
    funding_rate: float
    funding_interval: str
    funding_interval_hours: int
    next_funding_time: str
    next_funding_time_ms: int
    mark_price: float
    index_price: float
    apr: float
    last_updated: str
    last_updated_ms: int
    data_source: DataSource

    @classmethod
    def of(cls, r: FundingRate, *, data_source: DataSource) -> FundingContract:
        return cls(
            symbol=r.symbol,
            exchange=r.exchange,
            funding_rate=r.funding_rate,
            funding_interval=f"{r.funding_interval_h}h",
            funding_interval_hours=r.funding_interval_h,
            next_funding_time=iso_ms(r.next_funding_time_ms),
            next_funding_time_ms=r.next_funding_time_ms,
            mark_price=r.mark_price,
            index_price=r.index_price,
            apr=round(apr_pct(r.funding_rate, r.funding_interval_h), 6),
            last_updated=iso_ms(r.timestamp_ms),
            last_updated_ms=r.timestamp_ms,
            data_source=data_source,
        )

    def rate(self) -> FundingRate:
        return FundingRate(
            symbol=self.symbol,
            exchange=self.exchange,
            funding_rate=self.funding_rate,
            funding_interval_h=self.funding_interval_hours,
            next_funding_time_ms=self.next_funding_time_ms,
            mark_price=self.mark_price,
            index_price=self.index_price,
            timestamp_ms=self.last_updated_ms,
        )


class ExchangeState(BaseModel):
    """Where an exchange's table in a report came from, and how old it is."""

    source: Literal["real_time", "cached", "missing"]
    count: int
    data_time: str | None
    age_s: float | None
    error: str | None


class FundingReport(BaseModel):
    """A refresh's result (the ``funding.refresh`` task's), or the cached snapshot."""

    status: Literal["success", "partial"]
    exchange: str = Field(description="the exchange whose table is ``contracts``")
    contracts: dict[str, FundingContract]
    count: int
    by_exchange: dict[str, dict[str, FundingContract]] = Field(
        description="the other exchanges' tables (the first one's is not repeated)"
    )
    exchanges: dict[str, ExchangeState]
    real_time_count: int
    cached_count: int
    total_count: int
    fast_mode: bool
    execution_time: float
    timestamp: str


@dataclass(slots=True)
class ExchangeTable:
    exchange: str
    fetched_at_ms: int
    rows: dict[str, FundingContract]
    source: Literal["real_time", "cached", "missing"]
    error: str | None = None


class FundingEvents(Protocol):
    """Where new funding tables are announced (the push publisher)."""

    async def funding(self, exchange: str, table: str) -> None: ...

    async def arbitrage(self, rates: list[FundingRate]) -> None: ...


class FundingMonitor:
    def __init__(
        self,
        *,
        sources: Mapping[str, FundingSource],
        primary: str,
        cache: FailoverCache,
        ttl_s: float,
        watched: Callable[[], list[str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sources = dict(sources)
        self.primary = primary
        self._cache = cache
        self._ttl_s = ttl_s
        self._watched = watched
        self._clock = clock
        # set where push is on: every table fetched, and the arbitrage view, are published
        self.events: FundingEvents | None = None

    @property
    def exchanges(self) -> list[str]:
        return list(self._sources)

    async def _cached_table(self, exchange: str) -> ExchangeTable | None:
        hit = await self._cache.get(funding_rates_key(exchange))
        if hit is None:
            return None
        doc = json.loads(hit.value)
        rows = {
            s: FundingContract.model_validate({**row, "data_source": "cached"})
            for s, row in doc["rows"].items()
        }
        return ExchangeTable(exchange, int(doc["fetched_at_ms"]), rows, "cached")

    async def _live_table(self, exchange: str) -> ExchangeTable:
        rates = await self._sources[exchange].fetch_funding_rates()
        now_ms = int(self._clock() * 1000)

        def build() -> tuple[dict[str, FundingContract], str]:
            rows = {r.symbol: FundingContract.of(r, data_source="real_time") for r in rates}
            stored = {s: row.model_dump(mode="json") for s, row in rows.items()}
            doc = {"exchange": exchange, "fetched_at_ms": now_ms, "rows": stored}
            return rows, json.dumps(doc, separators=(",", ":"))

        # hundreds of rows: built off the event loop so requests are not held up meanwhile
        rows, payload = await asyncio.to_thread(build)
        await self._cache.set(funding_rates_key(exchange), payload, ttl_s=self._ttl_s)
        if self.events is not None:
            await self.events.funding(exchange, payload)
        return ExchangeTable(exchange, now_ms, rows, "real_time")

    async def _table(self, exchange: str, *, cache_only: bool) -> ExchangeTable | None:
        if cache_only:
            return await self._cached_table(exchange)
        try:
            return await self._live_table(exchange)
        except PerpwatchError as e:
            logger.warning("funding rates from %s failed: %s; using its cached table", exchange, e)
            cached = await self._cached_table(exchange)
            if cached is None:
                return ExchangeTable(exchange, 0, {}, "missing", error=str(e))
            cached.error = str(e)
            return cached

    async def refresh(self, *, fast_mode: bool = False, cache_only: bool = False) -> dict[str, Any]:
        """:meth:`report` as JSON values: the ``funding.refresh`` task's result."""
        report = await self.report(fast_mode=fast_mode, cache_only=cache_only)
        return report.model_dump(mode="json")

    async def report(self, *, fast_mode: bool = False, cache_only: bool = False) -> FundingReport:
        """Fetch (or, with ``cache_only``, read) every exchange's table.

        ``fast_mode`` keeps only the watched pool of symbols instead of every listed contract.
        Raises :class:`DataNotAvailable` when no exchange has data at all.
        """
        started = self._clock()
        tables = await asyncio.gather(
            *(self._table(ex, cache_only=cache_only) for ex in self._sources)
        )
        if self.events is not None and not cache_only and len(self._sources) > 1:
            fresh = [t for t in tables if t is not None and t.source != "missing"]
            await self.events.arbitrage([r.rate() for t in fresh for r in t.rows.values()])
        return self._report(
            [t for t in tables if t is not None],
            missing=[ex for ex, t in zip(self._sources, tables, strict=True) if t is None],
            fast_mode=fast_mode,
            started=started,
        )

    async def snapshot(self, *, fast_mode: bool = False) -> FundingReport:
        """The cached state, without calling any exchange."""
        return await self.report(fast_mode=fast_mode, cache_only=True)

    async def rates(self) -> list[FundingRate]:
        """Every cached contract of every exchange (for the arbitrage view)."""
        out: list[FundingRate] = []
        for ex in self._sources:
            table = await self._cached_table(ex)
            if table is not None:
                out.extend(r.rate() for r in table.rows.values())
        return out

    def _report(
        self, tables: list[ExchangeTable], *, missing: list[str], fast_mode: bool, started: float
    ) -> FundingReport:
        pool = set(self._watched()) if fast_mode else None
        now = self._clock()
        by_exchange: dict[str, dict[str, FundingContract]] = {}
        exchanges: dict[str, ExchangeState] = {}
        for t in tables:
            rows = t.rows if pool is None else {s: r for s, r in t.rows.items() if s in pool}
            if t.source != "missing":
                by_exchange[t.exchange] = rows
            exchanges[t.exchange] = ExchangeState(
                source=t.source,
                count=len(rows),
                data_time=iso_ms(t.fetched_at_ms) if t.fetched_at_ms else None,
                age_s=round(now - t.fetched_at_ms / 1000, 3) if t.fetched_at_ms else None,
                error=t.error,
            )
        for ex in missing:
            exchanges[ex] = ExchangeState(
                source="missing", count=0, data_time=None, age_s=None, error="no cached data"
            )
        if not by_exchange:
            errors = "; ".join(f"{ex}: {e.error}" for ex, e in exchanges.items())
            raise DataNotAvailable(f"no funding data from any exchange ({errors})")
        primary = self.primary if self.primary in by_exchange else next(iter(by_exchange))
        contracts = by_exchange[primary]
        real = sum(1 for r in contracts.values() if r.data_source == "real_time")
        ok = all(e.source == "real_time" for e in exchanges.values())
        return FundingReport(
            status="success" if ok else "partial",
            exchange=primary,
            contracts=contracts,
            count=len(contracts),
            by_exchange={ex: rows for ex, rows in by_exchange.items() if ex != primary},
            exchanges=exchanges,
            real_time_count=real,
            cached_count=len(contracts) - real,
            total_count=sum(len(rows) for rows in by_exchange.values()),
            fast_mode=fast_mode,
            execution_time=round(now - started, 3),
            timestamp=iso_ms(int(now * 1000)),
        )
