"""Every long-lived resource of a perpwatch process, opened and closed in one place.

The API lifespan, the CLI and ``perpwatch worker`` all use :func:`open_runtime`; nothing
is created at import time. Start order: cache, exchange clients, analysis, scheduler,
tasks, periodic checks; shutdown runs the other way round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from perpwatch.analysis.funding_monitor import FundingMonitor, FundingSource
from perpwatch.analysis.service import AnalysisService
from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from perpwatch.indicators.hama import HamaParams
from perpwatch.jobs import build_registry
from perpwatch.market.base import MarketData
from perpwatch.market.candle_store import CandleStore
from perpwatch.market.factory import build_markets
from perpwatch.scheduler.funding_check import FundingCheck
from perpwatch.scheduler.hama_scheduler import HamaScheduler
from perpwatch.settings import Settings
from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.factory import build_task_manager

logger = logging.getLogger(__name__)

STALE_AFTER_PERIODS = 1.5  # a value older than 1.5 refresh periods was not refreshed in time


def hama_params(settings: Settings) -> HamaParams:
    return HamaParams(
        open_length=settings.hama_open_length,
        open_type=settings.hama_open_type,
        high_length=settings.hama_high_length,
        high_type=settings.hama_high_type,
        low_length=settings.hama_low_length,
        low_type=settings.hama_low_type,
        close_length=settings.hama_close_length,
        close_type=settings.hama_close_type,
        ma_length=settings.hama_ma_length,
        ma_type=settings.hama_ma_type,
    )


@dataclass(slots=True)
class Runtime:
    settings: Settings
    markets: dict[str, MarketData]
    candles: CandleStore
    cache: FailoverCache
    service: AnalysisService
    scheduler: HamaScheduler
    funding: FundingMonitor
    started_at: float
    tasks: TaskManager | None = None
    funding_check: FundingCheck | None = field(default=None)

    @property
    def market(self) -> MarketData:
        """The market the HAMA analysis watches (``MARKET``)."""
        return self.markets[self.settings.market]

    @property
    def task_manager(self) -> TaskManager:
        if self.tasks is None:
            raise RuntimeError("this runtime was opened without a task manager")
        return self.tasks


def _watched(settings: Settings, scheduler: HamaScheduler) -> Callable[[], list[str]]:
    return lambda: list(scheduler.symbols) or list(settings.symbols)


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    start_scheduler: bool | None = None,
    with_tasks: bool = True,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Runtime]:
    """Open every resource; close them in reverse order.

    ``start_scheduler`` (default ``HAMA_SCHEDULER_ENABLED and HAMA_SCHEDULER_AUTO_START``)
    also starts the periodic funding check when ``FUNDING_CHECK_ENABLED``.
    ``with_tasks=False`` (a ``perpwatch worker``) opens no task manager of its own.
    """
    redis = (
        RedisCache(settings.redis_dsn, socket_timeout_s=settings.redis_socket_timeout_s)
        if settings.redis_enabled
        else None
    )
    cache = FailoverCache(
        redis=redis,
        memory=MemoryCache(max_entries=settings.memory_cache_max_entries),
        probe_interval_s=settings.redis_probe_interval_s,
    )
    await cache.start()
    markets = build_markets(settings, clock=clock)
    market = markets[settings.market]
    try:
        candles = CandleStore(
            market, timeframe=settings.hama_timeframe, history=settings.history_candles, clock=clock
        )
        service = AnalysisService(
            exchange=market.name,
            candles=candles,
            cache=cache,
            params=hama_params(settings),
            ttl_s=float(settings.hama_cache_ttl),
            stale_after_s=lambda: STALE_AFTER_PERIODS * scheduler.effective_interval_s,
            clock=clock,
        )
        scheduler = HamaScheduler(
            service=service,
            market=market,
            candles=candles,
            explicit_symbols=settings.symbols,
            symbols_limit=settings.symbols_limit,
            interval_s=settings.scheduler_interval_s,
            concurrency=settings.refresh_concurrency,
            clock=clock,
        )
        sources: dict[str, FundingSource] = {n: markets[n] for n in settings.funding_sources}
        funding = FundingMonitor(
            sources=sources,
            primary=settings.funding_sources[0],
            cache=cache,
            ttl_s=float(settings.funding_cache_ttl),
            watched=_watched(settings, scheduler),
            clock=clock,
        )
        runtime = Runtime(settings, markets, candles, cache, service, scheduler, funding, clock())
        async with contextlib.AsyncExitStack() as stack:
            if with_tasks:
                tasks = build_task_manager(settings, registry=build_registry(), ctx=runtime)
                await tasks.start()
                stack.push_async_callback(tasks.close, settings.task_shutdown_grace)
                runtime.tasks = tasks
            if start_scheduler is None:
                start_scheduler = (
                    settings.hama_scheduler_enabled and settings.hama_scheduler_auto_start
                )
            stack.push_async_callback(scheduler.stop)
            if start_scheduler:
                await scheduler.start()
            if with_tasks and start_scheduler and settings.funding_check_enabled:
                check = FundingCheck(
                    tasks=runtime.task_manager,
                    interval_s=settings.funding_check_interval,
                    clock=clock,
                )
                check.start()
                stack.push_async_callback(check.stop)
                runtime.funding_check = check
            yield runtime
    finally:
        await asyncio.gather(*(m.close() for m in markets.values()))
        await cache.close()
