"""Dependencies reach handlers through these ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from perpwatch.analysis.service import AnalysisService
from perpwatch.cache.failover import FailoverCache
from perpwatch.runtime import Runtime
from perpwatch.scheduler.hama_scheduler import HamaScheduler


def get_runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


def get_service(request: Request) -> AnalysisService:
    return get_runtime(request).service


def get_scheduler(request: Request) -> HamaScheduler:
    return get_runtime(request).scheduler


def get_cache(request: Request) -> FailoverCache:
    return get_runtime(request).cache


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[AnalysisService, Depends(get_service)]
SchedulerDep = Annotated[HamaScheduler, Depends(get_scheduler)]
CacheDep = Annotated[FailoverCache, Depends(get_cache)]
