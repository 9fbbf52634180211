"""The :class:`TaskManager` protocol every backend implements, plus task ids.

Ids are ``<operation slug>-<uuid4 hex>`` (122 random bits): unique without any clock,
so two submissions in the same millisecond -- or on two machines -- never collide. Ids
coming from clients are checked against :data:`TASK_ID_RE` before they reach a store;
an id that does not match is simply *not found* (``get``/``cancel`` return ``None``),
never an error, so probing with junk teaches a client nothing.
"""

from __future__ import annotations

import builtins
import re
import uuid
from typing import Any, Protocol, runtime_checkable

from perpwatch.tasks.models import SubmitResult, TaskInfo, TaskStatus

TASK_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_SLUG_RE = re.compile(r"[^A-Za-z0-9_]+")
SLUG_MAX = 40
MAX_LIST_LIMIT = 1000


def is_valid_task_id(task_id: object) -> bool:
    return isinstance(task_id, str) and TASK_ID_RE.match(task_id) is not None


def new_task_id(operation: str, *, prefix: str = "") -> str:
    """``refresh_rates-3f2a...`` -- readable in logs, unique by its random part."""
    slug = _SLUG_RE.sub("_", operation).strip("_")[:SLUG_MAX] or "task"
    return f"{prefix}{slug}-{uuid.uuid4().hex}"


def clamp_limit(limit: int) -> int:
    """``list(limit=...)`` bounds: 1..:data:`MAX_LIST_LIMIT`."""
    return max(1, min(int(limit), MAX_LIST_LIMIT))


@runtime_checkable
class TaskManager(Protocol):
    """Runs operations in the background and answers for their status.

    * ``submit`` validates (``InvalidInput`` -> 400), records and enqueues; it never waits
      for the work. An identical (operation + params) task that is still queued or
      running is returned instead, with ``deduplicated=True``.
    * ``get``/``cancel`` return ``None`` for unknown, expired or malformed ids.
    * ``list`` is most recent first; with ``include_result=False`` every ``result`` is
      ``None`` (a backend may then skip decoding results at all).
    * ``close(grace_s)`` stops accepting work, lets running tasks finish for up to
      ``grace_s`` seconds, then cancels what is left.
    """

    async def start(self) -> None: ...

    async def close(self, grace_s: float = 0) -> None: ...

    async def submit(
        self, operation: str, params: dict[str, Any], *, timeout_s: float | None = None
    ) -> SubmitResult: ...

    async def get(self, task_id: str) -> TaskInfo | None: ...

    async def list(
        self, *, status: TaskStatus | None = None, limit: int = 100, include_result: bool = True
    ) -> builtins.list[TaskInfo]: ...

    async def cancel(self, task_id: str) -> TaskInfo | None: ...

    def stats(self) -> dict[str, Any]: ...

    async def queue_depth(self) -> int | None:
        """Tasks queued and not started yet; ``None`` when the queue cannot be read."""
