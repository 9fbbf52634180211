"""Tasks run on this process's event loop: no Redis, nothing survives a restart.

``submit`` only records the task and puts its id on an ``asyncio.Queue``; ``max_workers``
worker coroutines take ids off the queue, so at most that many operations run at once.
Finished records are kept ``result_ttl_s`` seconds (expired ones are dropped on every
submit/get/list) and at most ``max_records`` records exist: the oldest finished ones go
first, and a submit that would need to drop an unfinished one raises
:class:`~perpwatch.tasks.errors.TaskQueueFull` instead.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable
from typing import Any

from perpwatch.tasks.base import clamp_limit, is_valid_task_id, new_task_id
from perpwatch.tasks.errors import OperationFailed
from perpwatch.tasks.execution import jsonable, prepare, run_operation
from perpwatch.tasks.models import SubmitResult, TaskInfo, TaskStatus
from perpwatch.tasks.operations import OperationRegistry, OperationSpec
from perpwatch.tasks.record import TaskRecord, TaskStore

logger = logging.getLogger(__name__)

CANCEL_WAIT_S = 1.0


class InProcessTaskManager:
    """:class:`~perpwatch.tasks.base.TaskManager` on asyncio, for one process."""

    def __init__(
        self,
        *,
        registry: OperationRegistry,
        ctx: Any,
        max_workers: int,
        result_ttl_s: float,
        default_timeout_s: float,
        clock: Callable[[], float] = time.time,
        max_records: int = 10_000,
        max_result_bytes: int = 64 * 1024 * 1024,
        id_prefix: str = "",
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if result_ttl_s <= 0 or default_timeout_s <= 0:
            raise ValueError("result_ttl_s and default_timeout_s must be positive")
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self._registry = registry
        self._ctx = ctx
        self._max_workers = max_workers
        self._default_timeout_s = float(default_timeout_s)
        self._clock = clock
        self.id_prefix = id_prefix
        self._store = TaskStore(
            ttl_s=float(result_ttl_s),
            max_records=max_records,
            clock=clock,
            max_result_bytes=max_result_bytes,
        )
        self._specs: dict[str, OperationSpec] = {}  # id -> spec, while queued/running
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: set[asyncio.Task[None]] = set()
        self._running: dict[str, asyncio.Task[Any]] = {}
        self._state = "new"  # new -> running -> closing -> closed
        self._counts = dict.fromkeys(
            ("submitted", "deduplicated", "completed", "failed", "cancelled"), 0
        )

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            return
        self._state = "running"
        for n in range(self._max_workers):
            self._workers.add(asyncio.create_task(self._work(), name=f"perpwatch-task-worker-{n}"))

    async def close(self, grace_s: float = 0) -> None:
        """Refuse new tasks, give running ones ``grace_s``, cancel the rest (recorded)."""
        if self._state == "closed":
            return
        self._state = "closing"
        running = list(self._running.values())
        if running and grace_s > 0:
            await asyncio.wait(running, timeout=grace_s)
        workers = list(self._workers)
        self._workers.clear()
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for task in list(self._running.values()):  # an operation that swallowed its cancel
            task.cancel()
        for rec in self._store.unfinished():
            logger.warning("shutdown: task %s (%s) cancelled, grace over", rec.id, rec.operation)
            self._finish(rec, "cancelled", error_type="Cancelled", error="cancelled: shut down")
        self._state = "closed"

    # --- API -----------------------------------------------------------------------

    async def submit(
        self, operation: str, params: dict[str, Any], *, timeout_s: float | None = None
    ) -> SubmitResult:
        sub = prepare(
            self._registry,
            operation,
            params,
            timeout_s=timeout_s,
            default_timeout_s=self._default_timeout_s,
            accepting=self._state == "running",
        )
        if sub.dedup_key is not None:
            existing = self._store.active_for(sub.dedup_key)
            if existing is not None:
                self._counts["deduplicated"] += 1
                return SubmitResult(task=existing.info(), deduplicated=True)
        rec = TaskRecord(
            id=new_task_id(sub.spec.name, prefix=self.id_prefix),
            operation=sub.spec.name,
            params=sub.params,
            submitted_at=self._clock(),
            timeout_s=sub.timeout_s,
            dedup_key=sub.dedup_key,
            backend="inprocess",
        )
        self._store.add(rec)  # may raise TaskQueueFull
        self._specs[rec.id] = sub.spec
        self._queue.put_nowait(rec.id)
        self._counts["submitted"] += 1
        return SubmitResult(task=rec.info(), deduplicated=False)

    async def get(self, task_id: str) -> TaskInfo | None:
        rec = self._store.get(task_id) if is_valid_task_id(task_id) else None
        return rec.info() if rec is not None else None

    def owns(self, task_id: str) -> bool:
        """Whether this manager holds a record of ``task_id``."""
        return task_id in self._store

    async def list(
        self, *, status: TaskStatus | None = None, limit: int = 100, include_result: bool = True
    ) -> builtins.list[TaskInfo]:
        limit = clamp_limit(limit)
        out: builtins.list[TaskInfo] = []
        for rec in self._store.newest_first():
            if status is None or rec.status == status:
                out.append(rec.info(with_result=include_result))
                if len(out) >= limit:
                    break
        return out

    async def cancel(self, task_id: str) -> TaskInfo | None:
        """Queued: cancelled at once, never runs. Running: cancelled (waits up to 1 s)."""
        rec = self._store.get(task_id) if is_valid_task_id(task_id) else None
        if rec is None:
            return None
        if rec.status == "queued":
            self._finish(rec, "cancelled", error_type="Cancelled", error="cancelled by request")
        elif rec.status == "running":
            task = self._running.get(task_id)
            if task is not None and not task.done():
                rec.cancel_requested = True
                task.cancel()
                await asyncio.wait([task], timeout=CANCEL_WAIT_S)
        return rec.info()

    async def queue_depth(self) -> int | None:
        return len(self._specs) - len(self._running)

    def stats(self) -> dict[str, Any]:
        return {
            "backend": "inprocess",
            "state": self._state,
            "max_workers": self._max_workers,
            "queued": len(self._specs) - len(self._running),
            "running": len(self._running),
            "records": len(self._store),
            "evicted": self._store.evicted,
            "result_bytes": self._store.result_bytes,
            **self._counts,
        }

    # --- internals -----------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            task_id = await self._queue.get()
            spec = self._specs.get(task_id)
            rec = self._store.get(task_id)
            if spec is None or rec is None or rec.status != "queued":
                continue  # cancelled or evicted meanwhile
            if self._state != "running":
                continue  # closing: close() records it as cancelled
            await self._execute(rec, spec)

    async def _execute(self, rec: TaskRecord, spec: OperationSpec) -> None:
        rec.status = "running"
        rec.started_at = self._clock()
        child = asyncio.create_task(
            run_operation(
                spec,
                self._ctx,
                jsonable(rec.params),
                task_id=rec.id,
                timeout_s=rec.timeout_s,
                as_json_text=True,
            ),
            name=f"perpwatch-task:{rec.id}",
        )
        self._running[rec.id] = child
        try:
            result = await child
        except OperationFailed as e:
            self._finish(rec, "failed", error_type=e.error_type, error=e.error)
        except asyncio.CancelledError:
            why = "cancelled by request" if rec.cancel_requested else "cancelled: shut down"
            if not rec.cancel_requested:
                logger.warning(
                    "shutdown: task %s (%s) cancelled, grace over", rec.id, rec.operation
                )
            self._finish(rec, "cancelled", error_type="Cancelled", error=why)
            me = asyncio.current_task()
            if me is not None and me.cancelling():
                raise  # this worker is being cancelled (close), not just the operation
        except Exception:  # run_operation converts every Exception; defensive only
            logger.exception("task %s (%s) failed", rec.id, rec.operation)
            error = f"internal error (see log, task {rec.id})"
            self._finish(rec, "failed", error_type="InternalError", error=error)
        else:
            self._finish(rec, "completed", result_json=result)
        finally:
            self._running.pop(rec.id, None)

    def _finish(self, rec: TaskRecord, status: TaskStatus, **fields: Any) -> None:
        if self._store.finish(rec, status, **fields):
            self._specs.pop(rec.id, None)
            self._counts[status] += 1
