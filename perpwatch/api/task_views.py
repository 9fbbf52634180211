"""How tasks are shown: the generic view and the legacy ``task_status`` shape."""

from __future__ import annotations

from typing import Any

from perpwatch.tasks.models import TaskInfo
from perpwatch.timeutil import iso_s


def _iso(t: float | None) -> str | None:
    return None if t is None else iso_s(t)


def task_view(info: TaskInfo, *, include_result: bool = True) -> dict[str, Any]:
    """Everything about a task, times as ISO 8601 beside the epoch seconds."""
    data = info.model_dump(mode="json", exclude=None if include_result else {"result"})
    data["submitted_time"] = _iso(info.submitted_at)
    data["start_time"] = _iso(info.started_at)
    data["end_time"] = _iso(info.finished_at)
    return data


def legacy_task_status(info: TaskInfo | None, *, now: float) -> dict[str, Any]:
    """``{"status": "running", "start_time", "duration"} | {"status": "completed", "result",
    "end_time"} | {"status": "failed", "error", "end_time"} | {"status": "not_found"}``,
    plus ``queued`` and ``cancelled`` in the same style."""
    if info is None:
        return {"status": "not_found"}
    if info.status == "queued":
        return {"status": "queued", "submit_time": _iso(info.submitted_at)}
    if info.status == "running":
        started = info.started_at or info.submitted_at
        return {
            "status": "running",
            "start_time": _iso(started),
            "duration": round(max(0.0, now - started), 3),
        }
    end = {"end_time": _iso(info.finished_at), "duration": info.duration_s}
    if info.status == "completed":
        return {"status": "completed", "result": info.result, **end}
    if info.status == "failed":
        return {"status": "failed", "error": info.error, "error_type": info.error_type, **end}
    return {"status": "cancelled", **end}
