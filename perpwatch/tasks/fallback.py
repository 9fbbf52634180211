"""SAQ while Redis answers, in-process while it does not.

A submit that finds Redis down runs the task in this process instead (logged once per
outage, and per task at INFO); its status stays answerable here for ``result_ttl_s``.
During an outage Redis is retried at most every ``retry_interval_s``, so a dead Redis
costs a submit nothing most of the time. In-process ids carry the local manager's
``id_prefix`` (``local-`` from the factory), so ``get``/``cancel`` know where to look.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable
from typing import Any

from perpwatch.tasks.base import clamp_limit
from perpwatch.tasks.errors import TaskBackendUnavailable
from perpwatch.tasks.inprocess import InProcessTaskManager
from perpwatch.tasks.models import SubmitResult, TaskInfo, TaskStatus
from perpwatch.tasks.saq.backend import SaqTaskManager

logger = logging.getLogger(__name__)


class FallbackTaskManager:
    """:class:`~perpwatch.tasks.base.TaskManager`: ``primary`` (SAQ), else ``local``."""

    def __init__(
        self,
        primary: SaqTaskManager,
        local: InProcessTaskManager,
        *,
        retry_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if retry_interval_s < 0:
            raise ValueError("retry_interval_s must not be negative")
        self._primary = primary
        self._local = local
        self._retry_interval_s = retry_interval_s
        self._monotonic = monotonic
        self._down = False
        self._last_attempt = 0.0
        self._outages = 0
        self._local_submits = 0

    @property
    def primary_available(self) -> bool:
        """False from the first failed submit of an outage to the next good one."""
        return not self._down

    async def start(self) -> None:
        await self._local.start()
        await self._primary.start()

    async def close(self, grace_s: float = 0) -> None:
        await asyncio.gather(self._primary.close(grace_s), self._local.close(grace_s))

    async def submit(
        self, operation: str, params: dict[str, Any], *, timeout_s: float | None = None
    ) -> SubmitResult:
        now = self._monotonic()
        if not self._down or now - self._last_attempt >= self._retry_interval_s:
            self._last_attempt = now
            try:
                result = await self._primary.submit(operation, params, timeout_s=timeout_s)
            except TaskBackendUnavailable as e:
                if not self._down:
                    self._down = True
                    self._outages += 1
                    logger.warning(
                        "task backend unavailable (%s); running new tasks in-process "
                        "until it answers again",
                        e,
                    )
            else:
                if self._down:
                    self._down = False
                    logger.warning("task backend available again; new tasks go to SAQ")
                return result
        result = await self._local.submit(operation, params, timeout_s=timeout_s)
        if not result.deduplicated:
            self._local_submits += 1
            logger.info(
                "task %s (%s) runs in-process: task backend unavailable",
                result.task.id,
                operation,
            )
        return result

    def _is_local(self, task_id: str) -> bool:
        prefix = self._local.id_prefix
        return self._local.owns(task_id) or bool(prefix and task_id.startswith(prefix))

    async def get(self, task_id: str) -> TaskInfo | None:
        if self._is_local(task_id):
            return await self._local.get(task_id)
        return await self._primary.get(task_id)

    async def cancel(self, task_id: str) -> TaskInfo | None:
        if self._is_local(task_id):
            return await self._local.cancel(task_id)
        return await self._primary.cancel(task_id)

    async def list(
        self, *, status: TaskStatus | None = None, limit: int = 100, include_result: bool = True
    ) -> builtins.list[TaskInfo]:
        tasks = await self._local.list(status=status, limit=limit, include_result=include_result)
        try:
            tasks += await self._primary.list(
                status=status, limit=limit, include_result=include_result
            )
        except TaskBackendUnavailable as e:
            logger.debug("listing in-process tasks only: %s", e)
        tasks.sort(key=lambda t: t.submitted_at, reverse=True)
        return tasks[: clamp_limit(limit)]

    async def queue_depth(self) -> int | None:
        """SAQ's queue plus the tasks queued here during an outage (``None`` while SAQ's
        queue is unreadable)."""
        primary = await self._primary.queue_depth()
        local = await self._local.queue_depth()
        return None if primary is None or local is None else primary + local

    def stats(self) -> dict[str, Any]:
        return {
            "backend": "saq",
            "fallback_active": self._down,
            "outages": self._outages,
            "local_submits": self._local_submits,
            "primary": self._primary.stats(),
            "local": self._local.stats(),
        }
