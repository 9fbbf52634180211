"""``/health``: liveness and readiness, with Redis and exchange state."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from perpwatch import __version__
from perpwatch.api.cluster_view import coordination_status, shared_schedule_status
from perpwatch.api.deps import RuntimeDep
from perpwatch.api.envelope import Envelope, ok_model
from perpwatch.api.responses import errors
from perpwatch.api.schemas.tasks import (
    ExchangeHealth,
    HealthReport,
    NotReady,
    RedisHealth,
    SchedulerHealth,
)
from perpwatch.runtime import Runtime

router = APIRouter(tags=["health"])


async def health_report(runtime: Runtime) -> HealthReport:
    """This process's view; where another process runs the schedule (this one is an API
    replica or a follower), the schedule and exchange part is the leader's."""
    cache, scheduler, service = runtime.cache, runtime.scheduler, runtime.service
    shared = None if scheduler.running else await shared_schedule_status(runtime)
    sched = shared if shared is not None else scheduler.status()
    last = sched.last_run
    list_error = sched.list_error
    last_ok = None if last is None else last.ok
    exchange_ok = list_error is None and (last is None or bool(last_ok) or last.total == 0)
    redis_state: Literal["up", "down", "disabled"] = (
        "disabled" if not cache.redis_enabled else "up" if await cache.confirm() else "down"
    )
    degraded = redis_state == "down" or not exchange_ok
    return HealthReport(
        status="degraded" if degraded else "ok",
        live=True,
        ready=last is not None and bool(last_ok),
        version=__version__,
        uptime_s=round(service.now() - runtime.started_at, 3),
        redis=RedisHealth(
            state=redis_state,
            cache_source=cache.source,
            errors=cache.redis_errors,
            outages=cache.outages,
        ),
        exchange=ExchangeHealth(
            name=runtime.market.name,
            ok=exchange_ok,
            list_error=list_error,
            error=sched.exchange_error,
            consecutive_failed_runs=sched.consecutive_failed_runs,
            last_run_failed=None if last is None else last.failed,
            last_run_ok=last_ok,
        ),
        scheduler=SchedulerHealth(running=sched.running, symbols_count=sched.symbols_count),
        coordination=await coordination_status(runtime),
        push=None
        if runtime.push is None or runtime.push.hub is None
        else runtime.push.hub.status(),
    )


@router.get(
    "/health",
    response_model=Envelope[HealthReport],
    responses=errors(),
    summary="Liveness (always 200 while the process serves) with details",
)
async def health(runtime: RuntimeDep) -> JSONResponse:
    return ok_model(await health_report(runtime))


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
    report = await health_report(runtime)
    if not report.ready:
        body = NotReady(code=0, msg="not ready: no refresh has produced data yet", data=report)
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    return ok_model(report)
