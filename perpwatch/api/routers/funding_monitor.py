"""``/funding_monitor``: funding rates, their async refresh, and the arbitrage table.

These paths and shapes are used by existing clients: they answer
``{"status": "success", ..., "timestamp": ...}`` (errors ``{"status": "error",
"message": ..., "timestamp": ...}``), not the ``code/msg/data`` envelope.

With ``API_KEY`` set, ``latest-rates-async`` needs the key unless ``cache_only=true``
(a cache-only refresh calls no exchange). Every submission takes a rate-limit token,
given back when it is deduplicated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from perpwatch.analysis.funding import arbitrage
from perpwatch.api.deps import RuntimeDep
from perpwatch.api.logsafe import clip
from perpwatch.api.openapi import AUTH_CONDITIONAL
from perpwatch.api.responses import errors
from perpwatch.api.schemas.funding import (
    ArbitrageRow,
    ArbitrageTable,
    FundingError,
    FundingSnapshot,
    FundingSubmitted,
    FundingTaskStatus,
)
from perpwatch.api.security import ensure_authorized, refund_token, take_token
from perpwatch.api.task_views import legacy_task_status
from perpwatch.jobs import FUNDING_REFRESH
from perpwatch.tasks import is_valid_task_id
from perpwatch.timeutil import iso_s

router = APIRouter(prefix="/funding_monitor", tags=["funding-monitor"])


def _now(runtime: RuntimeDep) -> str:
    return iso_s(runtime.service.now())


def _json(body: BaseModel) -> JSONResponse:
    """This router's own envelope: the model is the whole body."""
    return JSONResponse(body.model_dump(mode="json"))


@router.get(
    "/latest-rates-async",
    response_model=FundingSubmitted,
    responses=errors(401, 422, 429, 503, model=FundingError),
    openapi_extra=AUTH_CONDITIONAL,
    summary="Start a funding refresh; returns a task id at once",
)
async def latest_rates_async(
    request: Request, runtime: RuntimeDep, fast_mode: bool = False, cache_only: bool = False
) -> JSONResponse:
    """``fast_mode``: only the watched pool of symbols instead of every listed contract.
    ``cache_only``: answer from the cache without calling any exchange (the scheduled
    check never uses it: its purpose is to refresh the cache). Without ``cache_only`` the
    API key is needed (when API_KEY is set)."""
    if not cache_only:
        ensure_authorized(request)
    client = take_token(request)
    submitted = await runtime.task_manager.submit(
        FUNDING_REFRESH, {"fast_mode": fast_mode, "cache_only": cache_only}
    )
    if submitted.deduplicated:
        refund_token(request, client)
    task = submitted.task
    note = (
        "an identical refresh was already queued or running; this is its task id"
        if submitted.deduplicated
        else f"poll /funding_monitor/task-status/{task.id} for the result"
    )
    return _json(
        FundingSubmitted(
            status="success",
            message="task submitted; running in the background",
            task_id=task.id,
            deduplicated=submitted.deduplicated,
            timestamp=_now(runtime),
            note=note,
        )
    )


@router.get(
    "/task-status/{task_id}",
    response_model=FundingTaskStatus,
    responses=errors(422, model=FundingError),
    summary="Status of a task, with its result when done",
)
async def task_status(task_id: str, runtime: RuntimeDep) -> JSONResponse:
    """A malformed, unknown or expired id reports ``not_found`` (never an error)."""
    info = await runtime.task_manager.get(task_id)
    return _json(
        FundingTaskStatus(
            status="success",
            task_id=task_id if is_valid_task_id(task_id) else clip(task_id),
            task_status=legacy_task_status(info, now=runtime.service.now()),
            timestamp=_now(runtime),
        )
    )


@router.get(
    "/latest-rates",
    response_model=FundingSnapshot,
    responses=errors(422, 503, model=FundingError),
    summary="The cached funding snapshot (no exchange call)",
)
async def latest_rates(runtime: RuntimeDep, fast_mode: bool = False) -> JSONResponse:
    return _json(FundingSnapshot.of(await runtime.funding.snapshot(fast_mode=fast_mode)))


@router.get(
    "/arbitrage",
    response_model=ArbitrageTable,
    responses=errors(422, model=FundingError),
    summary="Cross-exchange funding arbitrage, from the cached rates",
)
async def arbitrage_table(
    runtime: RuntimeDep,
    sort_by: Literal["apr", "spread"] = "apr",
    min_spread_apr: Annotated[float, Query(ge=0, le=1_000_000)] = 0.0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> JSONResponse:
    rates = await runtime.funding.rates()
    ops = arbitrage(rates, min_spread_apr=min_spread_apr, sort_by=sort_by)
    rows = [ArbitrageRow.of(o) for o in ops[:limit]]
    table = ArbitrageTable(
        status="success",
        sort_by=sort_by,
        min_spread_apr=min_spread_apr,
        count=len(rows),
        total=len(ops),
        exchanges=runtime.funding.exchanges,
        opportunities=rows,
        timestamp=_now(runtime),
    )
    return _json(table)
