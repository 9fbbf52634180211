"""``/api/gainer-analysis``: HAMA analyses, the refresh schedule and cache statistics.

With ``API_KEY`` set, ``scheduler/start``, ``scheduler/stop``, ``refresh`` and a forced
``analyze-symbol`` need the key; cached reads stay open. Calls that cost exchange weight
or queue work (a forced analysis, a cache miss, a refresh, a scheduler start) take a token
from the caller's rate-limit bucket (429 with ``Retry-After`` when it is empty).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from perpwatch.analysis.matrix import MatrixData, matrix
from perpwatch.analysis.series import AnalysisSeries
from perpwatch.analysis.service import AnalysisService, Served
from perpwatch.api.cluster_view import coordination_status, shared_schedule_status
from perpwatch.api.deps import (
    AuthRequired,
    CacheDep,
    JsonBody,
    RuntimeDep,
    SchedulerDep,
    ServiceDep,
)
from perpwatch.api.envelope import Envelope, ok_model, ok_raw
from perpwatch.api.openapi import AUTH_CONDITIONAL, AUTH_REQUIRED
from perpwatch.api.responses import errors
from perpwatch.api.schemas.analysis import (
    AnalyzeRequest,
    CacheStats,
    RefreshRequest,
    RefreshSubmitted,
    SchedulerCacheStats,
    SchedulerControlStatus,
    SchedulerStartRequest,
    SchedulerStatus,
    ServedAnalysis,
    SignalRow,
    SignalsData,
)
from perpwatch.api.security import (
    charge_token,
    ensure_authorized,
    has_token,
    raise_rate_limited,
    refund_token,
    take_token,
)
from perpwatch.errors import InvalidInput, UnknownSymbol
from perpwatch.jobs import HAMA_REFRESH
from perpwatch.scheduler import control
from perpwatch.scheduler.control import check_listed
from perpwatch.scheduler.models import FundingCheckOff
from perpwatch.scheduler.watchlist import resolve_watchlist
from perpwatch.symbols import normalize_symbol

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/gainer-analysis", tags=["gainer-analysis"])


@router.post(
    "/analyze-symbol",
    response_model=Envelope[ServedAnalysis],
    responses=errors(400, 401, 404, 415, 422, 429, 503),
    dependencies=[JsonBody],
    openapi_extra=AUTH_CONDITIONAL,
    summary="HAMA analysis of one symbol (cached; computed on a miss or when forced)",
)
async def analyze_symbol(body: AnalyzeRequest, request: Request, runtime: RuntimeDep) -> Response:
    """A cache hit is open to everyone and never rate-limited. ``force_refresh: true`` needs
    the API key (when set) and a rate-limit token. A cache miss is open too -- refusing it
    would make the first read of a symbol fail -- but it costs exchange weight, so it is
    charged to the caller's bucket; a caller with an empty bucket is still served hits.
    ``timeframe``: one of ``HAMA_TIMEFRAMES`` (400 naming them for any other)."""
    service = runtime.service_for(body.timeframe)
    if body.force_refresh:
        ensure_authorized(request)
    symbol = normalize_symbol(body.symbol)
    if not body.force_refresh:
        hit = await service.cached_response(symbol)
        if hit is not None:  # the stored bytes, with the served fields joined on
            data, source = hit
            return ok_raw(data, f"success (cached from {source})")
    served = await _compute(symbol, body.force_refresh, request, service)
    return ok_model(served.response(), "success")


async def _compute(symbol: str, force: bool, request: Request, service: AnalysisService) -> Served:
    if force:
        take_token(request)  # concurrent forced refreshes of a symbol share one computation
        return service.fresh(await service.refresh(symbol))
    if not has_token(request):
        # an empty bucket may still read the cache, but must not cause a computation
        raise_rate_limited(request)
    try:
        return service.fresh(await service.refresh(symbol))
    finally:
        charge_token(request)  # a miss, failed or not, cost weight


async def _scheduler_status(runtime: RuntimeDep) -> SchedulerStatus:
    scheduler, cache = runtime.scheduler, runtime.cache
    shared = None if scheduler.running else await shared_schedule_status(runtime)
    # another process runs the schedule: show that one
    schedule = shared if shared is not None else scheduler.status()
    check = runtime.funding_check
    return SchedulerStatus(
        **dict(schedule),
        coordination=await coordination_status(runtime),
        enabled=runtime.settings.hama_scheduler_enabled,
        funding_check=check.status() if check is not None else FundingCheckOff(),
        cache_stats=SchedulerCacheStats(
            available=cache.redis_available if cache.redis_enabled else True,
            cached_symbols=len(await runtime.service.cached_symbols()),
            cache_ttl_seconds=int(runtime.service.ttl_s),
        ),
    )


async def _control_status(runtime: RuntimeDep, asked: dict[str, Any]) -> SchedulerControlStatus:
    return SchedulerControlStatus(**dict(await _scheduler_status(runtime)), control=asked)


@router.get("/scheduler/status", response_model=Envelope[SchedulerStatus], responses=errors())
async def scheduler_status(runtime: RuntimeDep) -> JSONResponse:
    return ok_model(await _scheduler_status(runtime))


@router.post(
    "/scheduler/start",
    response_model=Envelope[SchedulerStatus | SchedulerControlStatus],
    responses=errors(400, 401, 404, 415, 422, 429),
    dependencies=[AuthRequired, JsonBody],
    openapi_extra=AUTH_REQUIRED,
    summary="(Re)start the refresh schedule, optionally with new symbols or interval",
)
async def scheduler_start(
    request: Request, runtime: RuntimeDep, body: SchedulerStartRequest | None = None
) -> JSONResponse:
    """Starting runs a full refresh at once, so it takes a rate-limit token."""
    if not runtime.settings.hama_scheduler_enabled:
        raise InvalidInput("the scheduler is disabled (HAMA_SCHEDULER_ENABLED=false)")
    cluster = runtime.cluster
    symbols: list[str] | None = None
    interval_s: float | None = None
    if body is not None:
        if body.symbols is not None:
            if not body.symbols:
                raise InvalidInput("symbols must not be an empty list (omit it to keep the list)")
            symbols = list(dict.fromkeys(normalize_symbol(s) for s in body.symbols))
            # every symbol must be a listed perpetual (UnknownSymbol -> 404)
            if cluster is not None and cluster.api_only:
                symbols = await check_listed(cluster.store, symbols)
            else:
                symbols = await resolve_watchlist(
                    runtime.market, explicit=symbols, limit=len(symbols)
                )
        if body.interval_minutes is not None:
            interval_s = body.interval_minutes * 60.0
    take_token(request)
    if cluster is not None and cluster.api_only:
        asked = await control.request(
            cluster.store, running=True, symbols=symbols, interval_s=interval_s
        )
        return ok_model(
            await _control_status(runtime, asked),
            "scheduler start requested: the leader applies it within about 1 s",
        )
    await runtime.scheduler.start(symbols=symbols, interval_s=interval_s)
    return ok_model(await _scheduler_status(runtime), "scheduler started")


@router.post(
    "/scheduler/stop",
    response_model=Envelope[SchedulerStatus | SchedulerControlStatus],
    responses=errors(401),
    dependencies=[AuthRequired],
    openapi_extra=AUTH_REQUIRED,
)
async def scheduler_stop(runtime: RuntimeDep, scheduler: SchedulerDep) -> JSONResponse:
    cluster = runtime.cluster
    if cluster is not None and cluster.api_only:
        asked = await control.request(cluster.store, running=False)
        return ok_model(
            await _control_status(runtime, asked),
            "scheduler stop requested: the leader applies it within about 1 s",
        )
    await scheduler.stop()
    return ok_model(await _scheduler_status(runtime), "scheduler stopped")


@router.post(
    "/refresh",
    status_code=202,
    response_model=Envelope[RefreshSubmitted],
    responses=errors(400, 401, 415, 422, 429, 503),
    dependencies=[AuthRequired, JsonBody],
    openapi_extra=AUTH_REQUIRED,
    summary="Start a full HAMA refresh as an async task (HTTP 202 with its id)",
)
async def refresh(
    request: Request, runtime: RuntimeDep, body: RefreshRequest | None = None
) -> JSONResponse:
    """A submission takes a rate-limit token, given back when it is rejected (400) or
    deduplicated (an identical refresh is already queued or running)."""
    params: dict[str, Any] = {}
    if body is not None and body.symbols is not None:
        params["symbols"] = body.symbols
    client = take_token(request)
    try:
        submitted = await runtime.task_manager.submit(HAMA_REFRESH, params)
    except (InvalidInput, UnknownSymbol):
        refund_token(request, client)
        raise
    if submitted.deduplicated:
        refund_token(request, client)
    data = RefreshSubmitted(
        task_id=submitted.task.id,
        deduplicated=submitted.deduplicated,
        status=submitted.task.status,
        status_url=f"/api/tasks/{submitted.task.id}",
    )
    return ok_model(data, "refresh submitted", status_code=202)


@router.get("/cache-stats", response_model=Envelope[CacheStats], responses=errors())
async def cache_stats(service: ServiceDep, cache: CacheDep) -> JSONResponse:
    symbols = await service.cached_symbols()
    hit_rate = service.hit_rate
    stats = CacheStats(
        cache_type=cache.source,
        redis_enabled=cache.redis_enabled,
        redis_available=cache.redis_available,
        cached_symbols=len(symbols),
        cache_ttl_seconds=int(service.ttl_s),
        hits=service.hits,
        misses=service.misses,
        hit_rate=None if hit_rate is None else round(hit_rate, 6),
        redis_errors=cache.redis_errors,
        redis_outages=cache.outages,
        computations=service.computations,
        failures=service.failures,
        symbols=symbols,
    )
    return ok_model(stats)


@router.get(
    "/series/{symbol}",
    response_model=Envelope[AnalysisSeries],
    responses=errors(400, 404, 422, 503),
    summary="Chart data of a symbol: candles, HAMA, MA, Bollinger, RSI and MACD as arrays",
)
async def series(
    runtime: RuntimeDep,
    symbol: Annotated[str, Path(min_length=1, max_length=64)],
    timeframe: Annotated[str | None, Query(max_length=10)] = None,
    bars: Annotated[int, Query(ge=10, le=1000)] = 300,
) -> Response:
    """From the candles perpwatch holds (no exchange call), computed by the same functions
    as the analysis, and cached until the next candle closes. 503 while no candles of the
    symbol are held (it is not watched and was never analysed)."""
    canonical = normalize_symbol(symbol)
    service = runtime.service_for(timeframe)
    push = runtime.push
    known = None if push is None else await push.known_symbols()
    if known is not None and canonical not in known:
        raise UnknownSymbol(canonical)
    text = await service.series_text(canonical, bars)
    return ok_raw(text)


async def watched_symbols(runtime: RuntimeDep) -> list[str]:
    """The symbols this process schedules, else those of the process that does."""
    symbols = list(runtime.scheduler.symbols)
    if not symbols:  # another process runs the schedule: its watched symbols
        shared = await shared_schedule_status(runtime)
        symbols = list(shared.symbols) if shared is not None else []
    return symbols


@router.get(
    "/signals",
    response_model=Envelope[SignalsData],
    responses=errors(400, 422),
    summary="Cached analyses of every watched symbol, filterable",
)
async def signals(
    runtime: RuntimeDep,
    recommendation: Literal["BUY", "SELL", "HOLD"] | None = None,
    min_confidence: Annotated[float, Query(ge=0, le=1)] = 0.0,
    timeframe: Annotated[str | None, Query(max_length=10)] = None,
) -> JSONResponse:
    """Served from the cache only (no exchange call); symbols not cached yet are listed
    under ``missing`` rather than invented. ``timeframe``: one of HAMA_TIMEFRAMES."""
    service = runtime.service_for(timeframe)
    symbols = await watched_symbols(runtime)
    symbols = symbols or await service.cached_symbols()
    docs = await service.cached(symbols)
    now = service.now()
    rows: list[SignalRow] = []
    missing: list[str] = []
    for symbol, doc in zip(symbols, docs, strict=True):
        if doc is None:
            missing.append(symbol)
            continue
        h = doc["hama_analysis"]
        age = round(max(0.0, now - doc["timestamp_ms"] / 1000), 3)
        stale, _reason = service.staleness(symbol, doc, age)
        if recommendation is not None and h["recommendation"] != recommendation:
            continue
        if h["confidence"] < min_confidence:
            continue
        rows.append(SignalRow.from_document(symbol, doc, age_seconds=age, stale=stale))
    rows.sort(key=lambda r: (-r.confidence, r.symbol))
    return ok_model(SignalsData(count=len(rows), signals=rows, missing=missing))


MAX_MATRIX_SYMBOLS = 2000


@router.get(
    "/matrix",
    response_model=Envelope[MatrixData],
    responses=errors(400, 422),
    summary="Every timeframe's signal per symbol, and how far they agree (alignment)",
)
async def signal_matrix(
    runtime: RuntimeDep,
    symbols: Annotated[str | None, Query(max_length=40_000)] = None,
    min_alignment: Annotated[float | None, Query(ge=0, le=1, allow_inf_nan=False)] = None,
) -> Response:
    """From the cache only. ``symbols``: comma-separated (default: the watched ones).
    ``min_alignment``: keep rows whose |alignment| reaches it, BUY or SELL alike."""
    if symbols is not None:
        names = [normalize_symbol(s) for s in symbols.split(",") if s.strip()]
        if not names or len(names) > MAX_MATRIX_SYMBOLS:
            raise InvalidInput(f"symbols: 1 to {MAX_MATRIX_SYMBOLS} comma-separated symbols")
        wanted = list(dict.fromkeys(names))
    else:
        wanted = await watched_symbols(runtime) or await runtime.service.cached_symbols()
    services = runtime.services or {runtime.service.timeframe: runtime.service}
    texts = {tf: await s.cached_texts(wanted) for tf, s in services.items()}
    stale = {tf: s.stale_after_s for tf, s in services.items()}
    now = runtime.service.now()

    def build() -> str:  # decoding every analysis: off the event loop
        return matrix(wanted, texts, stale_after_s=stale, now_s=now,
                      min_alignment=min_alignment).model_dump_json()  # fmt: skip

    return ok_raw(await asyncio.to_thread(build))
