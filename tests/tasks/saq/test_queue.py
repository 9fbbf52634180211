"""WorkerQueue's sweep does not steal a job a worker has just dequeued (SAQ #277)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from saq.job import Job, Status
from saq.queue.redis import RedisQueue

from perpwatch.tasks.saq.jobs import JOB_FUNCTION, redis_client
from perpwatch.tasks.saq.queue import WorkerQueue
from tests.tasks.conftest import SAQ_WARNINGS

pytestmark = SAQ_WARNINGS
NAME = "perpwatch-sweep"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    c = redis_client(redis_url, socket_timeout_s=2.0)
    yield c
    await c.aclose()


async def dequeued_but_not_marked(queue: RedisQueue, client: aioredis.Redis, key: str) -> Job:
    """A job as a worker leaves it between BLMOVE and marking it active."""
    job = Job(function=JOB_FUNCTION, kwargs={"operation": "echo", "params": {}}, key=key)
    assert await queue.enqueue(job) is not None
    moved = await client.lmove(f"saq:{NAME}:queued", f"saq:{NAME}:active", "LEFT", "RIGHT")
    assert moved is not None
    return job


async def test_plain_saq_sweeps_a_job_being_dequeued(client: aioredis.Redis) -> None:
    """The race itself, with SAQ's own queue (if this fails, SAQ fixed it upstream)."""
    queue = RedisQueue(client, name=NAME)
    job = await dequeued_but_not_marked(queue, client, "race-plain")
    assert await queue.sweep(lock=1, abort=0.05) == [job.id]


async def test_worker_queue_spares_it_until_a_later_sweep(client: aioredis.Redis) -> None:
    queue = WorkerQueue(client, name=NAME)
    job = await dequeued_but_not_marked(queue, client, "race-fixed")
    assert await queue.sweep(lock=1, abort=0.05) == []
    stored = await queue.job(job.key)
    assert stored is not None and stored.status == Status.QUEUED
    await client.delete(f"saq:{NAME}:sweep")  # the next sweep period
    assert await queue.sweep(lock=1, abort=0.05) == [job.id]  # still not active: really lost
    retried = await queue.job(job.key)
    assert retried is not None and retried.status == Status.QUEUED  # SAQ put it back


async def test_worker_queue_leaves_healthy_active_jobs(client: aioredis.Redis) -> None:
    queue = WorkerQueue(client, name=NAME)
    job = await dequeued_but_not_marked(queue, client, "healthy")
    await queue.sweep(lock=1, abort=0.05)
    await queue.update(job, status=Status.ACTIVE, started=job.queued, timeout=600)
    await client.delete(f"saq:{NAME}:sweep")
    assert await queue.sweep(lock=1, abort=0.05) == []
    stored = await queue.job(job.key)
    assert stored is not None and stored.status == Status.ACTIVE
