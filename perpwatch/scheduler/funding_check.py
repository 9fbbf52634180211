"""The periodic funding check: submits the funding refresh as a task, never waits for it.

Each tick first records how the previous tick's task ended (completed -> success,
failed/cancelled/expired -> failure), then submits a new one. Submission is bounded by
``SUBMIT_TIMEOUT_S`` whatever the exchange or Redis does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from perpwatch.errors import PerpwatchError
from perpwatch.jobs import FUNDING_REFRESH
from perpwatch.metrics import record
from perpwatch.scheduler.models import FundingCheckStatus
from perpwatch.tasks.base import TaskManager
from perpwatch.timeutil import iso_s

logger = logging.getLogger(__name__)

SUBMIT_TIMEOUT_S = 5.0


class FundingCheck:
    def __init__(
        self, *, tasks: TaskManager, interval_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._tasks = tasks
        self.interval_s = interval_s
        self._clock = clock
        self._loop_task: asyncio.Task[None] | None = None
        self.pending_task_id: str | None = None
        self.successes = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self.last_check_at: float | None = None
        self.last_success_at: float | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    def start(self) -> None:
        if not self.running:
            self._loop_task = asyncio.create_task(self._loop(), name="funding-check")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None

    async def _loop(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.interval_s)

    def _failed(self, why: str) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.last_error = why
        record.funding_check("failed")
        logger.warning("funding check failed (%d in a row): %s", self.consecutive_failures, why)

    async def _settle_previous(self) -> None:
        task_id, self.pending_task_id = self.pending_task_id, None
        if task_id is None:
            return
        info = await self._tasks.get(task_id)
        if info is None:
            self._failed(f"task {task_id} disappeared before it finished")
        elif info.status in ("queued", "running"):
            self.pending_task_id = task_id  # still going: judge it on a later tick
        elif info.status == "completed":
            self.successes += 1
            record.funding_check("ok")
            self.consecutive_failures = 0
            self.last_error = None
            self.last_success_at = info.finished_at
        else:
            self._failed(f"task {task_id} {info.status}: {info.error}")

    async def tick(self) -> None:
        """One check: judge the previous task, submit the next. Never raises."""
        self.last_check_at = self._clock()
        try:
            async with asyncio.timeout(SUBMIT_TIMEOUT_S):
                await self._settle_previous()
                if self.pending_task_id is None:
                    result = await self._tasks.submit(
                        FUNDING_REFRESH, {"fast_mode": False, "cache_only": False}
                    )
                    self.pending_task_id = result.task.id
        except TimeoutError:
            self._failed(f"submitting the funding refresh took over {SUBMIT_TIMEOUT_S:g}s")
        except PerpwatchError as e:
            self._failed(str(e))

    def status(self) -> FundingCheckStatus:
        return FundingCheckStatus(
            running=self.running,
            interval_seconds=self.interval_s,
            successes=self.successes,
            failures=self.failures,
            consecutive_failures=self.consecutive_failures,
            last_error=self.last_error,
            last_check=None if self.last_check_at is None else iso_s(self.last_check_at),
            last_success=None if self.last_success_at is None else iso_s(self.last_success_at),
            pending_task_id=self.pending_task_id,
        )
