"""Async tasks: a call returns a task id at once, the work runs in the background.

Backends: :class:`InProcessTaskManager` (asyncio, one process) and
:class:`SaqTaskManager` (SAQ on Redis, any instance answers for any task), wrapped by
:class:`FallbackTaskManager` so tasks still run while Redis is down. Build one with
:func:`~perpwatch.tasks.factory.build_task_manager`.
"""

from __future__ import annotations

from perpwatch.tasks.base import TASK_ID_RE, TaskManager, is_valid_task_id, new_task_id
from perpwatch.tasks.errors import TaskBackendUnavailable, TaskQueueFull, TasksClosed
from perpwatch.tasks.inprocess import InProcessTaskManager
from perpwatch.tasks.models import SubmitResult, TaskInfo, TaskStatus
from perpwatch.tasks.operations import OperationRegistry, OperationSpec

__all__ = [
    "TASK_ID_RE",
    "InProcessTaskManager",
    "OperationRegistry",
    "OperationSpec",
    "SubmitResult",
    "TaskBackendUnavailable",
    "TaskInfo",
    "TaskManager",
    "TaskQueueFull",
    "TaskStatus",
    "TasksClosed",
    "is_valid_task_id",
    "new_task_id",
]
