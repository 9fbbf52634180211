"""What the SAQ manager and SAQ workers share: the Redis client, the one job function, and
how a SAQ job reads as a :class:`~perpwatch.tasks.models.TaskInfo`.

Every perpwatch task is a SAQ job of the function :data:`JOB_FUNCTION` whose kwargs are
``{"operation", "params", "timeout_s"}``; the SAQ job key *is* the task id. The job's
``meta`` holds ``submitted_at`` (float epoch seconds) and ``dedup_key``, and -- written by
the worker when an operation fails -- the client-safe ``error_type``/``error``. SAQ's own
``job.error`` holds a traceback and is never shown to a client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from saq.job import Job, Status
from saq.types import Context

from perpwatch.errors import InvalidInput
from perpwatch.redis_client import RedisClient, open_redis
from perpwatch.tasks.errors import OperationFailed
from perpwatch.tasks.execution import run_operation
from perpwatch.tasks.models import TaskInfo, TaskStatus
from perpwatch.tasks.operations import OperationRegistry

logger = logging.getLogger(__name__)

QUEUE_NAME = "perpwatch"
JOB_FUNCTION = "run_operation"
CANCEL_REASON = "cancelled by request"
TIMEOUT_MARGIN_S = 5  # SAQ's own job timeout backs ours up, a little later
JobFunction = Callable[..., Awaitable[Any]]

_STATUS: dict[Status, TaskStatus] = {
    Status.NEW: "queued",
    Status.QUEUED: "queued",
    Status.ACTIVE: "running",
    Status.COMPLETE: "completed",
    Status.FAILED: "failed",
    Status.ABORTING: "cancelled",
    Status.ABORTED: "cancelled",
}
ACTIVE_JOB_STATUSES = frozenset({Status.NEW, Status.QUEUED, Status.ACTIVE})


def saq_queue_name(name: str = QUEUE_NAME, *, cluster: bool) -> str:
    """The queue's name in Redis: ``name`` itself on one server (``saq:perpwatch:queued``),
    a hash tag on a Redis Cluster (``saq:{perpwatch}:queued``, ``saq:job:{perpwatch}:<id>``).

    SAQ's scripts and transactions touch several of the queue's keys at once, and so do
    perpwatch's dedup script and the job keys it reads; on a cluster they must all hash to
    one slot. Every key of the queue is named after the queue, so the tag puts them there.
    """
    if not cluster or is_hash_tag(name):
        return name
    return "{" + name + "}"


def is_hash_tag(name: str) -> bool:
    """``{…}``: a name that is all one hash tag, so every key named after it shares a slot."""
    return len(name) > 2 and name.startswith("{") and name.endswith("}")


def redis_client(url: str, *, socket_timeout_s: float, cluster: bool = False) -> RedisClient:
    """A bytes (not decoding) client, as SAQ expects; no hidden retries on one server.

    On a cluster (``cluster``): redis-py's asyncio ``RedisCluster`` (see
    :func:`perpwatch.redis_client.open_redis`), which follows the slot map after a failover.
    """
    connect_s = min(socket_timeout_s, 2.0)
    if cluster:
        return open_redis(
            url, cluster=True, socket_timeout_s=socket_timeout_s, connect_timeout_s=connect_s
        )
    return aioredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=connect_s,
        health_check_interval=15,
        retry=Retry(NoBackoff(), 0),
    )


def saq_timeout(timeout_s: float) -> int:
    return math.ceil(timeout_s) + TIMEOUT_MARGIN_S


def saq_ttl(result_ttl_s: float) -> int:
    return max(1, math.ceil(result_ttl_s))


def _ms(value: int) -> float | None:
    return value / 1000.0 if value else None


def _failure(job: Job) -> tuple[str, str]:
    meta = job.meta or {}
    if isinstance(meta.get("error_type"), str) and isinstance(meta.get("error"), str):
        return meta["error_type"], meta["error"]
    if "TimeoutError" in (job.error or ""):  # SAQ's backstop timeout fired
        return "TimeoutError", f"timed out after {job.timeout} s (worker limit)"
    return "WorkerError", f"internal error (see worker log, task {job.key})"


def job_to_info(job: Job) -> TaskInfo | None:
    """The task a SAQ job represents; ``None`` for jobs perpwatch did not create."""
    kwargs = job.kwargs or {}
    operation, params = kwargs.get("operation"), kwargs.get("params")
    if job.function != JOB_FUNCTION or not isinstance(operation, str):
        return None
    if not isinstance(params, dict):
        return None
    meta = job.meta or {}
    status = _STATUS[job.status]
    error_type = error = None
    if job.status in (Status.ABORTING, Status.ABORTED) and job.error != CANCEL_REASON:
        status = "failed"  # swept or aborted by SAQ itself, not by a client
        error_type, error = "Aborted", "aborted by the queue (worker lost or stuck)"
    elif status == "failed":
        error_type, error = _failure(job)
    elif status == "cancelled":
        error_type, error = "Cancelled", CANCEL_REASON
    started = _ms(job.started) if job.status != Status.QUEUED else None
    finished = _ms(job.completed) if job.status not in ACTIVE_JOB_STATUSES else None
    duration = max(0.0, finished - started) if started and finished else None
    submitted = meta.get("submitted_at")
    return TaskInfo(
        id=job.key,
        operation=operation,
        params=params,
        status=status,
        submitted_at=float(submitted) if isinstance(submitted, int | float) else job.queued / 1e3,
        started_at=started,
        finished_at=finished,
        duration_s=duration,
        result=job.result if job.status == Status.COMPLETE else None,
        error_type=error_type,
        error=error,
        dedup_key=meta.get("dedup_key") if isinstance(meta.get("dedup_key"), str) else None,
        backend="saq",
        timeout_s=float(kwargs.get("timeout_s") or job.timeout),
    )


def make_job_function(registry: OperationRegistry, ctx: Any) -> JobFunction:
    """The SAQ job function: look the operation up and run it with ``ctx``."""

    async def run_job(
        saq_ctx: Context, *, operation: str, params: dict[str, Any], timeout_s: float
    ) -> Any:
        job = saq_ctx.get("job")
        task_id = job.key if job is not None else "?"
        try:
            try:
                spec = registry.get(operation)
            except InvalidInput as e:
                logger.error("task %s: operation %s is not registered here", task_id, operation)
                raise OperationFailed("InvalidInput", str(e)) from None
            return await run_operation(spec, ctx, params, task_id=task_id, timeout_s=timeout_s)
        except OperationFailed as e:
            if job is not None:  # SAQ writes the job (with meta) when it marks it failed
                job.meta["error_type"] = e.error_type
                job.meta["error"] = e.error
            raise

    run_job.__qualname__ = JOB_FUNCTION
    return run_job
