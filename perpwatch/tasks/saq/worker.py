"""SAQ workers: the jobs of the ``perpwatch`` queue, run with an :class:`OperationRegistry`.

``run_worker`` is what a ``perpwatch worker`` process runs (on any machine that reaches
the Redis); :class:`~perpwatch.tasks.saq.backend.SaqTaskManager` runs the same worker
inside the app when ``TASK_LOCAL_WORKER`` is on, so one instance works alone.

Stopping drains: the worker takes no new jobs, running ones get up to ``grace_s`` to
finish, and whatever still runs is cancelled -- SAQ then puts it back on the queue
(``retry``), so another worker runs it again from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from saq import Worker
from saq.queue.redis import RedisQueue
from saq.types import Context

from perpwatch.redis_client import REDIS_ERRORS
from perpwatch.tasks.operations import OperationRegistry
from perpwatch.tasks.saq.jobs import (
    JOB_FUNCTION,
    QUEUE_NAME,
    make_job_function,
    redis_client,
    saq_queue_name,
)
from perpwatch.tasks.saq.queue import WorkerQueue

logger = logging.getLogger(__name__)

DEQUEUE_TIMEOUT_S = 1.0  # a blocking dequeue returns at least this often
WORKER_SOCKET_TIMEOUT_S = 10.0  # must exceed DEQUEUE_TIMEOUT_S
DRAIN_POLL_S = 0.05
STOP_TIMEOUT_S = 5.0


def open_worker_queue(
    redis_url: str, *, name: str = QUEUE_NAME, cluster: bool = False
) -> WorkerQueue:
    """The worker's queue: ``name`` on one server, its hash-tagged form on a cluster."""
    client = redis_client(redis_url, socket_timeout_s=WORKER_SOCKET_TIMEOUT_S, cluster=cluster)
    return WorkerQueue(client, name=saq_queue_name(name, cluster=cluster))


def build_worker(
    *, queue: WorkerQueue, registry: OperationRegistry, ctx: Any, concurrency: int
) -> Worker[Context]:
    """A SAQ worker for ``queue``; it installs no signal handlers (its owner does)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    worker: Worker[Context] = Worker(
        queue,
        functions=[(JOB_FUNCTION, make_job_function(registry, ctx))],
        concurrency=concurrency,
        dequeue_timeout=DEQUEUE_TIMEOUT_S,
    )
    worker.SIGNALS = []
    return worker


async def drain_and_stop(worker: Worker[Context], queue: WorkerQueue, grace_s: float) -> None:
    """Take no new jobs, wait up to ``grace_s`` for running ones, then stop the worker."""
    queue.paused = True
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, grace_s)
    while worker.job_task_contexts:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        running = [c["task"] for c in worker.job_task_contexts.values()]
        await asyncio.wait(running, timeout=remaining)
        await asyncio.sleep(DRAIN_POLL_S)  # let the worker write the results
    if worker.job_task_contexts:
        logger.warning(
            "stopping SAQ worker with %d job(s) still running; they will be retried",
            len(worker.job_task_contexts),
        )
    await worker.stop()


async def start_worker(worker: Worker[Context], *, name: str) -> asyncio.Task[None]:
    """Run ``worker.start()`` in a task that has got going (so it can be stopped)."""
    task = asyncio.create_task(worker.start(), name=name)
    await asyncio.sleep(0)  # start() installs its stop event on its first step
    return task


async def stop_worker(
    worker: Worker[Context], queue: WorkerQueue, task: asyncio.Task[None], grace_s: float
) -> None:
    """Drain (``grace_s``), stop, and wait for the task running ``worker.start()``."""
    await drain_and_stop(worker, queue, grace_s)
    worker.event.set()
    done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    elif not task.cancelled() and task.exception() is not None:
        logger.error("SAQ worker failed", exc_info=task.exception())


async def close_queue(queue: RedisQueue) -> None:
    try:
        await queue.disconnect()
    except REDIS_ERRORS as e:  # closing a dead connection must not fail shutdown
        logger.debug("closing SAQ queue: %s", e)


async def run_worker(
    *,
    redis_url: str,
    registry: OperationRegistry,
    ctx_factory: Callable[[], AbstractAsyncContextManager[Any]],
    concurrency: int,
    queue_name: str = QUEUE_NAME,
    cluster: bool | None = None,
    shutdown_grace_s: float = 10.0,
    handle_signals: bool = True,
) -> None:
    """Run jobs of ``queue_name`` until SIGTERM/SIGINT (drained) or cancellation (no grace).

    ``ctx_factory()`` is entered once; the ``ctx`` it yields is passed to every operation.
    ``cluster``: Redis Cluster or not; ``None`` takes ``ctx.settings.redis_cluster`` when
    the context has settings (the :class:`~perpwatch.runtime.Runtime` of ``perpwatch
    worker``), else one server.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    grace_s = shutdown_grace_s
    async with ctx_factory() as ctx:
        on_cluster = _context_cluster(ctx) if cluster is None else cluster
        queue = open_worker_queue(redis_url, name=queue_name, cluster=on_cluster)
        try:
            worker = build_worker(queue=queue, registry=registry, ctx=ctx, concurrency=concurrency)
            await queue.connect()
            runner = await start_worker(worker, name="perpwatch-saq-worker")
            for sig in signals:
                loop.add_signal_handler(sig, stop.set)
            logger.info(
                "perpwatch worker running: queue %s, concurrency %d, operations %s",
                queue.name,
                concurrency,
                ", ".join(registry.names()),
            )
            stopper = asyncio.create_task(stop.wait(), name="perpwatch-worker-stop")
            try:
                await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                grace_s = 0.0
                raise
            finally:
                stopper.cancel()
                for sig in signals:
                    loop.remove_signal_handler(sig)
                await stop_worker(worker, queue, runner, grace_s)
                logger.info("perpwatch worker stopped")
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await close_queue(queue)


def _context_cluster(ctx: Any) -> bool:
    return bool(getattr(getattr(ctx, "settings", None), "redis_cluster", False))
