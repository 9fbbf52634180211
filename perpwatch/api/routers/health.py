"""``/health``: liveness and readiness, with Redis and exchange state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from perpwatch import __version__
from perpwatch.api.deps import RuntimeDep
from perpwatch.api.envelope import Envelope, ok
from perpwatch.api.responses import errors
from perpwatch.api.schemas.tasks import HealthReport, NotReady
from perpwatch.runtime import Runtime

router = APIRouter(tags=["health"])


def health_report(runtime: Runtime) -> dict[str, Any]:
    cache, scheduler, service = runtime.cache, runtime.scheduler, runtime.service
    last = scheduler.last_run
    exchange_ok = scheduler.list_error is None and (last is None or last.ok > 0 or last.total == 0)
    ready = last is not None and last.ok > 0
    redis_state = (
        "disabled" if not cache.redis_enabled else "up" if cache.redis_available else "down"
    )
    degraded = redis_state == "down" or not exchange_ok
    return {
        "status": "degraded" if degraded else "ok",
        "live": True,
        "ready": ready,
        "version": __version__,
        "uptime_s": round(service.now() - runtime.started_at, 3),
        "redis": {
            "state": redis_state,
            "cache_source": cache.source,
            "errors": cache.redis_errors,
            "outages": cache.outages,
        },
        "exchange": {
            "name": runtime.market.name,
            "ok": exchange_ok,
            "list_error": scheduler.list_error,
            "error": scheduler.exchange_error,
            "consecutive_failed_runs": scheduler.consecutive_failed_runs,
            "last_run_failed": None if last is None else last.failed,
            "last_run_ok": None if last is None else last.ok,
        },
        "scheduler": {"running": scheduler.running, "symbols_count": len(scheduler.symbols)},
    }


@router.get(
    "/health",
    response_model=Envelope[HealthReport],
    responses=errors(),
    summary="Liveness (always 200 while the process serves) with details",
)
async def health(runtime: RuntimeDep) -> JSONResponse:
    return ok(health_report(runtime))


@router.get(
    "/health/ready",
    response_model=Envelope[HealthReport],
    responses={
        **errors(),
        503: {"model": NotReady, "description": "No refresh has produced data yet"},
    },
    summary="Readiness: 200 once a refresh has produced data, else 503",
)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    report = health_report(runtime)
    if not report["ready"]:
        return JSONResponse(
            {"code": 0, "msg": "not ready: no refresh has produced data yet", "data": report},
            status_code=503,
        )
    return ok(report)
