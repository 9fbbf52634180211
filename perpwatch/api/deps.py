"""Dependencies reach handlers through these ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from perpwatch.analysis.service import AnalysisService
from perpwatch.api.security import require_api_key
from perpwatch.cache.failover import FailoverCache
from perpwatch.runtime import Runtime
from perpwatch.scheduler.hama_scheduler import HamaScheduler


def _runtime(request: Request) -> Runtime:
    return cast(Runtime, request.app.state.runtime)


# async: a sync dependency would hop to the thread pool on every request
async def get_runtime(request: Request) -> Runtime:
    return _runtime(request)


async def get_service(request: Request) -> AnalysisService:
    return _runtime(request).service


async def get_scheduler(request: Request) -> HamaScheduler:
    return _runtime(request).scheduler


async def get_cache(request: Request) -> FailoverCache:
    return _runtime(request).cache


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ServiceDep = Annotated[AnalysisService, Depends(get_service)]
SchedulerDep = Annotated[HamaScheduler, Depends(get_scheduler)]
CacheDep = Annotated[FailoverCache, Depends(get_cache)]


JSON_ONLY = "send the body as JSON with Content-Type: application/json"


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (subtype == "json" or subtype.endswith("+json"))


async def require_json_body(request: Request) -> None:
    """A non-empty body must be declared JSON: anything else is answered **415**.

    415 (not 422) because the fault is the declared media type, not the content: a client
    that forgot ``-H 'Content-Type: application/json'`` (curl sends form encoding by
    default) learns exactly that. An empty body is fine where the body is optional.
    """
    if not await request.body():
        return
    content_type = request.headers.get("content-type")
    if content_type is None or not is_json_media_type(content_type):
        raise HTTPException(415, f"unsupported media type: {JSON_ONLY}")


JsonBody = Depends(require_json_body)
AuthRequired = Depends(require_api_key)
