"""``/api/tasks``: every async task, whatever started it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from perpwatch.api.deps import RuntimeDep
from perpwatch.api.envelope import error, ok
from perpwatch.api.task_views import task_view
from perpwatch.tasks.models import TaskStatus

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@router.get("", summary="Recent tasks, most recent first")
async def list_tasks(
    runtime: RuntimeDep,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_result: bool = False,
) -> JSONResponse:
    """Results are left out unless ``include_result=true`` (they can be large)."""
    tasks = await runtime.task_manager.list(status=status, limit=limit)
    views = [task_view(t, include_result=include_result) for t in tasks]
    return ok({"count": len(views), "tasks": views})


@router.get("/{task_id}", summary="One task: status, times, result or error")
async def get_task(task_id: str, runtime: RuntimeDep) -> JSONResponse:
    info = await runtime.task_manager.get(task_id)
    if info is None:
        return error(404, f"task not found (unknown, or expired): {task_id[:100]}")
    return ok(task_view(info))


@router.delete("/{task_id}", summary="Cancel a queued or running task")
async def cancel_task(task_id: str, runtime: RuntimeDep) -> JSONResponse:
    info = await runtime.task_manager.cancel(task_id)
    if info is None:
        return error(404, f"task not found (unknown, or expired): {task_id[:100]}")
    if info.status != "cancelled":
        return error(409, f"task already {info.status}; nothing to cancel")
    return ok(task_view(info), "cancelled")
