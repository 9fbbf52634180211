"""What a client sees of a task. Times are epoch seconds (floats)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

TaskStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
TaskBackend = Literal["inprocess", "saq"]

TASK_STATUSES: tuple[TaskStatus, ...] = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE_STATUSES: frozenset[TaskStatus] = frozenset({"queued", "running"})
FINISHED_STATUSES: frozenset[TaskStatus] = frozenset({"completed", "failed", "cancelled"})


class TaskInfo(BaseModel):
    """A snapshot of one task. ``error`` never holds a traceback (that goes to the log)."""

    model_config = ConfigDict(frozen=True)

    id: str
    operation: str
    params: dict[str, Any]
    status: TaskStatus
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    result: Any | None = None
    error_type: str | None = None
    error: str | None = None
    dedup_key: str | None = None
    backend: TaskBackend
    timeout_s: float


class SubmitResult(BaseModel):
    """``deduplicated`` is true when an identical queued/running task was returned instead."""

    model_config = ConfigDict(frozen=True)

    task: TaskInfo
    deduplicated: bool
