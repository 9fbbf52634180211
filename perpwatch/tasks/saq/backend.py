"""Tasks on SAQ (Redis): any instance sharing the Redis can submit, answer and cancel any
task; ``perpwatch worker`` processes (and, with ``local_worker``, this one) run them.

* task id = SAQ job key: random (:func:`~perpwatch.tasks.base.new_task_id`), never the
  dedup key, so a finished task and a new identical one never share an id.
* dedup: a claim key per dedup key, see :mod:`perpwatch.tasks.saq.keys`.
* ``list``: a sorted-set index, see :mod:`perpwatch.tasks.saq.keys`.
* results expire with the SAQ job record (``ttl`` = ``result_ttl_s``); a job still
  queued or running has no expiry (SAQ's rule).
* ``cluster``: the same on a Redis Cluster, with the queue named as a hash tag
  (``{perpwatch}``), so all of its keys -- SAQ's and perpwatch's -- live in one slot.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from saq import Worker
from saq.types import Context

from perpwatch.redis_client import REDIS_ERRORS, learn_nodes
from perpwatch.tasks.base import clamp_limit, is_valid_task_id, new_task_id
from perpwatch.tasks.errors import TaskBackendUnavailable
from perpwatch.tasks.execution import prepare
from perpwatch.tasks.models import SubmitResult, TaskInfo, TaskStatus
from perpwatch.tasks.operations import OperationRegistry
from perpwatch.tasks.saq.jobs import (
    ACTIVE_JOB_STATUSES,
    CANCEL_REASON,
    JOB_FUNCTION,
    QUEUE_NAME,
    job_to_info,
    redis_client,
    saq_queue_name,
    saq_timeout,
    saq_ttl,
)
from perpwatch.tasks.saq.keys import DEDUP_GRACE_S, DedupClaims, TaskIndex
from perpwatch.tasks.saq.queue import PerpwatchQueue, WorkerQueue
from perpwatch.tasks.saq.worker import (
    build_worker,
    close_queue,
    open_worker_queue,
    start_worker,
    stop_worker,
)

logger = logging.getLogger(__name__)

LIST_PAGE = 200


class SaqTaskManager:
    """:class:`~perpwatch.tasks.base.TaskManager` on a SAQ queue in Redis.

    ``start`` never waits for Redis (so it works while Redis is down; on a cluster it
    reads the slot map in the background); every Redis/SAQ error of a call becomes
    :class:`TaskBackendUnavailable` (HTTP 503).
    """

    def __init__(
        self,
        *,
        redis_url: str,
        registry: OperationRegistry,
        ctx: Any,
        result_ttl_s: float,
        default_timeout_s: float,
        local_worker: bool = True,
        worker_concurrency: int = 4,
        queue_name: str = QUEUE_NAME,
        cluster: bool = False,
        socket_timeout_s: float = 1.0,
        clock: Callable[[], float] = time.time,
        index_max: int = 10_000,
    ) -> None:
        if result_ttl_s <= 0 or default_timeout_s <= 0 or socket_timeout_s <= 0:
            raise ValueError("result_ttl_s, default_timeout_s and socket_timeout_s must be > 0")
        self._url = redis_url
        self._registry = registry
        self._ctx = ctx
        self._ttl_s = float(result_ttl_s)
        self._default_timeout_s = float(default_timeout_s)
        self._local_worker = local_worker
        self._concurrency = worker_concurrency
        self._clock = clock
        self._deadline_s = 4 * socket_timeout_s
        self._cluster = cluster
        self._queue_name = saq_queue_name(queue_name, cluster=cluster)
        self._client = redis_client(redis_url, socket_timeout_s=socket_timeout_s, cluster=cluster)
        self._queue = PerpwatchQueue(self._client, name=self._queue_name)
        self._claims = DedupClaims(self._client, self._queue)
        horizon_s = self._ttl_s + DEDUP_GRACE_S
        self._index = TaskIndex(
            self._client, self._queue_name, max_entries=index_max, horizon_s=horizon_s
        )
        self._worker: Worker[Context] | None = None
        self._worker_queue: WorkerQueue | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._learning: asyncio.Task[bool] | None = None
        self._state = "new"
        self._counts = {"submitted": 0, "deduplicated": 0, "redis_errors": 0}

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        if self._state != "new":
            return
        self._state = "running"
        await self._queue.connect()
        if self._cluster:  # in the background: start never waits for Redis
            self._learning = asyncio.create_task(
                learn_nodes(self._client), name="perpwatch-saq-learn-nodes"
            )
        if self._local_worker:
            wq = open_worker_queue(self._url, name=self._queue_name, cluster=self._cluster)
            await wq.connect()
            self._worker_queue = wq
            self._worker = build_worker(
                queue=wq, registry=self._registry, ctx=self._ctx, concurrency=self._concurrency
            )
            self._worker_task = await start_worker(self._worker, name="perpwatch-saq-local")

    async def close(self, grace_s: float = 0) -> None:
        """Refuse new tasks; the local worker drains (``grace_s``), unfinished jobs are
        put back on the queue for other workers (SAQ retry)."""
        if self._state == "closed":
            return
        self._state = "closed"
        if self._learning is not None:
            self._learning.cancel()
            await asyncio.gather(self._learning, return_exceptions=True)
        if self._worker is not None and self._worker_queue is not None:
            if self._worker_task is not None:
                await stop_worker(self._worker, self._worker_queue, self._worker_task, grace_s)
            await close_queue(self._worker_queue)
        await close_queue(self._queue)

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
        task_id = new_task_id(sub.spec.name)
        now = self._clock()
        job = self._queue.new_job(
            function=JOB_FUNCTION,
            kwargs={"operation": sub.spec.name, "params": sub.params, "timeout_s": sub.timeout_s},
            key=task_id,
            timeout=saq_timeout(sub.timeout_s),
            ttl=saq_ttl(self._ttl_s),
            retries=1,
            meta={"submitted_at": now, "dedup_key": sub.dedup_key},
        )
        if sub.dedup_key is not None:
            owner = await self._claims.claim(sub.dedup_key, task_id, sub.timeout_s, self._edge)
            info = job_to_info(owner) if owner is not None else None
            if info is not None:
                self._counts["deduplicated"] += 1
                return SubmitResult(task=info, deduplicated=True)
        async with self._edge("enqueue"):
            if await self._queue.enqueue(job) is None:
                raise TaskBackendUnavailable(f"SAQ refused to enqueue task {task_id}")
            await self._index.add(task_id, now)
        self._counts["submitted"] += 1
        info = job_to_info(job)
        assert info is not None
        return SubmitResult(task=info, deduplicated=False)

    async def get(self, task_id: str) -> TaskInfo | None:
        if not is_valid_task_id(task_id):
            return None
        async with self._edge("get"):
            job = await self._queue.job(task_id)
        return job_to_info(job) if job is not None else None

    async def list(
        self, *, status: TaskStatus | None = None, limit: int = 100, include_result: bool = True
    ) -> builtins.list[TaskInfo]:
        limit = clamp_limit(limit)
        out: builtins.list[TaskInfo] = []
        start = 0
        while len(out) < limit and start < self._index.max_entries:
            async with self._edge("list"):
                ids = await self._index.newest(start, LIST_PAGE)
                jobs = await self._queue.jobs(ids) if ids else []
                gone = [i for i, j in zip(ids, jobs, strict=True) if j is None]
                await self._index.remove(gone)
            for job in jobs:
                info = job_to_info(job) if job is not None else None
                if info is not None and (status is None or info.status == status):
                    if not include_result and info.result is not None:
                        info = info.model_copy(update={"result": None})
                    out.append(info)
                    if len(out) >= limit:
                        break
            if len(ids) < LIST_PAGE:
                break
            start += LIST_PAGE - len(gone)
        return out

    async def cancel(self, task_id: str) -> TaskInfo | None:
        """Queued: off the queue at once. Running: reported cancelled at once; the worker
        running it cancels it within about two seconds (SAQ's abort check)."""
        if not is_valid_task_id(task_id):
            return None
        async with self._edge("cancel"):
            job = await self._queue.job(task_id)
            if job is None or job_to_info(job) is None:
                return None
            if job.status in ACTIVE_JOB_STATUSES:
                await self._queue.abort(job, CANCEL_REASON)
                job = await self._queue.job(task_id) or job
        return job_to_info(job)

    async def queue_depth(self) -> int | None:
        """The SAQ queue's length (every instance's submissions), one Redis call."""
        try:
            async with self._edge("count"):
                return await self._queue.count("queued")
        except TaskBackendUnavailable:
            return None

    def stats(self) -> dict[str, Any]:
        worker = self._worker
        return {
            "backend": "saq",
            "state": self._state,
            "queue": self._queue_name,
            "local_worker": worker is not None,
            "worker_concurrency": self._concurrency if worker is not None else 0,
            "worker_running_jobs": len(worker.job_task_contexts) if worker is not None else 0,
            **self._counts,
        }

    @asynccontextmanager
    async def _edge(self, what: str) -> AsyncIterator[None]:
        """Bound the Redis work and turn any client error into TaskBackendUnavailable."""
        try:
            async with asyncio.timeout(self._deadline_s):
                yield
        except REDIS_ERRORS as e:
            self._counts["redis_errors"] += 1
            reason = str(e) or type(e).__name__
            raise TaskBackendUnavailable(f"task backend (redis) {what} failed: {reason}") from e
