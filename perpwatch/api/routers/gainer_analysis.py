"""``/api/gainer-analysis``: HAMA analyses, the refresh schedule and cache statistics."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from perpwatch.api.deps import CacheDep, RuntimeDep, SchedulerDep, ServiceDep
from perpwatch.api.envelope import ERROR_RESPONSES, Envelope, ok
from perpwatch.api.schemas import (
    AnalyzeRequest,
    CacheStats,
    RefreshRequest,
    SchedulerStartRequest,
    SchedulerStatus,
    ServedAnalysis,
)
from perpwatch.constants import HAMA_ANALYSIS_PREFIX
from perpwatch.errors import InvalidInput
from perpwatch.jobs import HAMA_REFRESH
from perpwatch.scheduler.watchlist import resolve_watchlist
from perpwatch.symbols import normalize_symbol

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/gainer-analysis", tags=["gainer-analysis"])


@router.post(
    "/analyze-symbol",
    response_model=Envelope[ServedAnalysis],
    responses=ERROR_RESPONSES,
    summary="HAMA analysis of one symbol (cached; computed on a miss or when forced)",
)
async def analyze_symbol(body: AnalyzeRequest, service: ServiceDep) -> JSONResponse:
    symbol = normalize_symbol(body.symbol)
    served = await service.get(symbol, force_refresh=body.force_refresh)
    data = served.as_response()
    msg = f"success (cached from {served.source})" if served.cached else "success"
    return ok(data, msg)


async def _scheduler_status(runtime: RuntimeDep) -> dict[str, Any]:
    scheduler, cache = runtime.scheduler, runtime.cache
    status = scheduler.status()
    status["enabled"] = runtime.settings.hama_scheduler_enabled
    check = runtime.funding_check
    status["funding_check"] = check.status() if check is not None else {"running": False}
    status["cache_stats"] = {
        "available": cache.redis_available if cache.redis_enabled else True,
        "cached_symbols": await cache.count(HAMA_ANALYSIS_PREFIX),
        "cache_ttl_seconds": int(runtime.service.ttl_s),
    }
    return status


@router.get("/scheduler/status", response_model=Envelope[SchedulerStatus])
async def scheduler_status(runtime: RuntimeDep) -> JSONResponse:
    return ok(await _scheduler_status(runtime))


@router.post(
    "/scheduler/start", response_model=Envelope[SchedulerStatus], responses=ERROR_RESPONSES
)
async def scheduler_start(
    runtime: RuntimeDep, body: SchedulerStartRequest | None = None
) -> JSONResponse:
    if not runtime.settings.hama_scheduler_enabled:
        raise InvalidInput("the scheduler is disabled (HAMA_SCHEDULER_ENABLED=false)")
    symbols: list[str] | None = None
    interval_s: float | None = None
    if body is not None:
        if body.symbols is not None:
            if not body.symbols:
                raise InvalidInput("symbols must not be an empty list (omit it to keep the list)")
            symbols = list(dict.fromkeys(normalize_symbol(s) for s in body.symbols))
            # every symbol must be a listed perpetual (UnknownSymbol -> 404)
            symbols = await resolve_watchlist(runtime.market, explicit=symbols, limit=len(symbols))
        if body.interval_minutes is not None:
            interval_s = body.interval_minutes * 60.0
    await runtime.scheduler.start(symbols=symbols, interval_s=interval_s)
    return ok(await _scheduler_status(runtime), "scheduler started")


@router.post("/scheduler/stop", response_model=Envelope[SchedulerStatus])
async def scheduler_stop(runtime: RuntimeDep, scheduler: SchedulerDep) -> JSONResponse:
    await scheduler.stop()
    return ok(await _scheduler_status(runtime), "scheduler stopped")


@router.post(
    "/refresh",
    status_code=202,
    responses=ERROR_RESPONSES,
    summary="Start a full HAMA refresh as an async task (HTTP 202 with its id)",
)
async def refresh(runtime: RuntimeDep, body: RefreshRequest | None = None) -> JSONResponse:
    params: dict[str, Any] = {}
    if body is not None and body.symbols is not None:
        params["symbols"] = body.symbols
    submitted = await runtime.task_manager.submit(HAMA_REFRESH, params)
    data = {
        "task_id": submitted.task.id,
        "deduplicated": submitted.deduplicated,
        "status": submitted.task.status,
        "status_url": f"/api/tasks/{submitted.task.id}",
    }
    return ok(data, "refresh submitted", status_code=202)


@router.get("/cache-stats", response_model=Envelope[CacheStats])
async def cache_stats(service: ServiceDep, cache: CacheDep) -> JSONResponse:
    symbols = await service.cached_symbols()
    hit_rate = service.hit_rate
    return ok(
        {
            "cache_type": cache.source,
            "redis_enabled": cache.redis_enabled,
            "redis_available": cache.redis_available,
            "cached_symbols": len(symbols),
            "cache_ttl_seconds": int(service.ttl_s),
            "hits": service.hits,
            "misses": service.misses,
            "hit_rate": None if hit_rate is None else round(hit_rate, 6),
            "redis_errors": cache.redis_errors,
            "redis_outages": cache.outages,
            "computations": service.computations,
            "failures": service.failures,
            "symbols": symbols,
        }
    )


@router.get("/signals", summary="Cached analyses of every watched symbol, filterable")
async def signals(
    runtime: RuntimeDep,
    recommendation: Literal["BUY", "SELL", "HOLD"] | None = None,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.0,
) -> JSONResponse:
    """Served from the cache only (no exchange call); symbols not cached yet are listed
    under ``missing`` rather than invented."""
    symbols = list(runtime.scheduler.symbols) or await runtime.service.cached_symbols()
    docs = await runtime.service.cached(symbols)
    now = runtime.service.now()
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for symbol, doc in zip(symbols, docs, strict=True):
        if doc is None:
            missing.append(symbol)
            continue
        h = doc["hama_analysis"]
        age = round(max(0.0, now - doc["timestamp_ms"] / 1000), 3)
        stale, _reason = runtime.service.staleness(symbol, doc, age)
        if recommendation is not None and h["recommendation"] != recommendation:
            continue
        if h["confidence"] < min_confidence:
            continue
        rows.append(
            {
                "symbol": symbol,
                "recommendation": h["recommendation"],
                "confidence": h["confidence"],
                "trend": h["trend"],
                "deviation_pct": h["signals"]["deviation_pct"],
                "realtime_price": h["signals"]["realtime_price"],
                "candle_close_time": doc["candle_close_time"],
                "timestamp": doc["timestamp"],
                "age_seconds": age,
                "stale": stale,
            }
        )
    rows.sort(key=lambda r: (-r["confidence"], r["symbol"]))
    return ok({"count": len(rows), "signals": rows, "missing": missing})
