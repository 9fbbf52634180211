"""``/api/tasks``: every async task, whatever started it.

``DELETE`` needs the API key when ``API_KEY`` is set. Ids are validated by the task layer:
a malformed one is simply not found (404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from perpwatch.api.deps import AuthRequired, RuntimeDep
from perpwatch.api.envelope import Envelope, error, ok_model
from perpwatch.api.logsafe import clip
from perpwatch.api.openapi import AUTH_REQUIRED
from perpwatch.api.responses import errors
from perpwatch.api.schemas.tasks import TaskList, TaskView
from perpwatch.api.task_views import task_view
from perpwatch.tasks.models import FINISHED_STATUSES, TaskStatus

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


def _not_found(task_id: str) -> JSONResponse:
    return error(404, f"task not found (unknown, or expired): {clip(task_id)}")


@router.get(
    "",
    response_model=Envelope[TaskList],
    responses=errors(422),
    summary="Recent tasks, most recent first",
)
async def list_tasks(
    runtime: RuntimeDep,
    status: TaskStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_result: bool = False,
) -> JSONResponse:
    """Results are left out unless ``include_result=true`` (they can be large)."""
    tasks = await runtime.task_manager.list(
        status=status, limit=limit, include_result=include_result
    )
    views = TaskList(count=len(tasks), tasks=[task_view(t) for t in tasks])
    return ok_model(views, exclude=None if include_result else {"tasks": {"__all__": {"result"}}})


@router.get(
    "/{task_id}",
    response_model=Envelope[TaskView],
    responses=errors(404, 422),
    summary="One task: status, times, result or error",
)
async def get_task(task_id: str, runtime: RuntimeDep) -> JSONResponse:
    info = await runtime.task_manager.get(task_id)
    if info is None:
        return _not_found(task_id)
    return ok_model(task_view(info))


@router.delete(
    "/{task_id}",
    response_model=Envelope[TaskView],
    responses=errors(401, 404, 409, 422),
    dependencies=[AuthRequired],
    openapi_extra=AUTH_REQUIRED,
    summary="Cancel a queued or running task (idempotent; 409 if it completed or failed)",
)
async def cancel_task(task_id: str, runtime: RuntimeDep) -> JSONResponse:
    manager = runtime.task_manager
    before = await manager.get(task_id)
    if before is None:
        return _not_found(task_id)
    if before.status == "cancelled":
        return ok_model(task_view(before), "already cancelled")
    if before.status in FINISHED_STATUSES:
        return error(409, f"task already {before.status}; nothing to cancel")
    info = await manager.cancel(task_id)
    if info is None:  # expired in between
        return _not_found(task_id)
    if info.status != "cancelled":  # finished in between
        return error(409, f"task already {info.status}; nothing to cancel")
    return ok_model(task_view(info), "cancelled")
