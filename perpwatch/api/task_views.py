"""How tasks are shown: the generic view and the legacy ``task_status`` shape."""

from __future__ import annotations

from perpwatch.api.schemas.funding import (
    LegacyTaskStatus,
    TaskCancelled,
    TaskCompleted,
    TaskFailed,
    TaskNotFound,
    TaskQueued,
    TaskRunning,
)
from perpwatch.api.schemas.tasks import TaskView
from perpwatch.tasks.models import TaskInfo
from perpwatch.timeutil import iso_s


def _iso(t: float | None) -> str | None:
    return None if t is None else iso_s(t)


def task_view(info: TaskInfo) -> TaskView:
    """Everything about a task, times as ISO 8601 beside the epoch seconds."""
    return TaskView(
        **dict(info),
        submitted_time=iso_s(info.submitted_at),
        start_time=_iso(info.started_at),
        end_time=_iso(info.finished_at),
    )


def legacy_task_status(info: TaskInfo | None, *, now: float) -> LegacyTaskStatus:
    """``{"status": "running", "start_time", "duration"} | {"status": "completed", "result",
    "end_time"} | {"status": "failed", "error", "end_time"} | {"status": "not_found"}``,
    plus ``queued`` and ``cancelled`` in the same style."""
    if info is None:
        return TaskNotFound()
    if info.status == "queued":
        return TaskQueued(submit_time=_iso(info.submitted_at))
    if info.status == "running":
        started = info.started_at or info.submitted_at
        return TaskRunning(start_time=_iso(started), duration=round(max(0.0, now - started), 3))
    end, duration = _iso(info.finished_at), info.duration_s
    if info.status == "completed":
        return TaskCompleted(result=info.result, end_time=end, duration=duration)
    if info.status == "failed":
        return TaskFailed(
            error=info.error, error_type=info.error_type, end_time=end, duration=duration
        )
    return TaskCancelled(end_time=end, duration=duration)
