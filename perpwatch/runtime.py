"""Every long-lived resource of a perpwatch process, opened and closed in one place.

The API lifespan and the CLI both use :func:`open_runtime`; nothing is created at import time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from perpwatch.analysis.service import AnalysisService
from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from perpwatch.indicators.hama import HamaParams
from perpwatch.market.base import MarketData
from perpwatch.market.candle_store import CandleStore
from perpwatch.market.factory import build_market
from perpwatch.scheduler.hama_scheduler import HamaScheduler
from perpwatch.settings import Settings

logger = logging.getLogger(__name__)


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
    market: MarketData
    candles: CandleStore
    cache: FailoverCache
    service: AnalysisService
    scheduler: HamaScheduler
    started_at: float


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    start_scheduler: bool | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Runtime]:
    """Open cache, market, service and scheduler; close them in reverse order.

    ``start_scheduler`` defaults to ``HAMA_SCHEDULER_ENABLED and HAMA_SCHEDULER_AUTO_START``.
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
    market = build_market(settings, clock=clock)
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
        runtime = Runtime(settings, market, candles, cache, service, scheduler, clock())
        if start_scheduler is None:
            start_scheduler = settings.hama_scheduler_enabled and settings.hama_scheduler_auto_start
        if start_scheduler:
            await scheduler.start()
        try:
            yield runtime
        finally:
            await scheduler.stop()
    finally:
        await market.close()
        await cache.close()
