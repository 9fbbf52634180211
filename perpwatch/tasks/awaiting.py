"""Waiting for a task's outcome, for a caller that needs the result now (an API replica
whose cache missed). The work still runs where tasks run; only the wait is here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from perpwatch.errors import DataNotAvailable
from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.models import TaskInfo

POLL_S = 0.01
POLL_MAX_S = 0.1


async def await_task(
    tasks: TaskManager,
    task_id: str,
    *,
    timeout_s: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> TaskInfo:
    """The task once it has finished (completed, failed or cancelled); polls with a
    growing interval (10 ms to 100 ms). :class:`DataNotAvailable` after ``timeout_s`` or
    when the task is gone."""
    deadline = monotonic() + timeout_s
    delay = POLL_S
    while True:
        info = await tasks.get(task_id)
        if info is None:
            raise DataNotAvailable(f"task {task_id} is gone")
        if info.status in ("completed", "failed", "cancelled"):
            return info
        if monotonic() >= deadline:
            raise DataNotAvailable(f"no result from the workers within {timeout_s:.0f}s")
        await asyncio.sleep(delay)
        delay = min(POLL_MAX_S, delay * 1.5)
