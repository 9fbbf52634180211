"""Errors of the task subsystem (all :class:`~perpwatch.errors.PerpwatchError`s but one).

The API maps ``DataNotAvailable`` to HTTP 503, so a closed manager, a full in-process
queue or an unreachable Redis all answer "try again later" without a traceback.
"""

from __future__ import annotations

from perpwatch.errors import DataNotAvailable


class TaskBackendUnavailable(DataNotAvailable):
    """Redis (the SAQ backend) did not answer; converted at the edge from redis/SAQ errors."""


class TasksClosed(DataNotAvailable):
    """The task manager is shutting down (or was never started) and takes no new tasks."""


class TaskQueueFull(DataNotAvailable):
    """The in-process manager holds its maximum of unfinished tasks."""


class OperationFailed(Exception):
    """An operation failed; ``error_type``/``error`` are safe to show a client.

    The traceback has already been logged (with the task id) when this is raised.
    """

    def __init__(self, error_type: str, error: str) -> None:
        super().__init__(f"{error_type}: {error}")
        self.error_type = error_type
        self.error = error
