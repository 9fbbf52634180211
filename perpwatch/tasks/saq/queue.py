"""The SAQ Redis queues perpwatch uses: SAQ's, also on a Redis Cluster, with two fixes.

:class:`PerpwatchQueue` (submitters and workers) runs SAQ's ``RedisQueue`` on a Redis
Cluster client as well. All the queue's keys share one hash tag (see
:func:`~perpwatch.tasks.saq.jobs.saq_queue_name`), so SAQ's scripts and ``MULTI``
transactions stay in one slot. Three things still need help there, and only there:

* a job's abort key (``saq:abort:<key>``) is not named after the queue, so SAQ's enqueue
  script and its abort transaction would cross slots; :class:`ClusterJob` names it
  ``saq:abort:{perpwatch}:<key>``;
* redis-py refuses ``PUBLISH`` inside a cluster pipeline, which SAQ's ``abort`` sends in
  its transaction; here it is published right after the transaction instead;
* a cluster client has no ``connection_pool`` for SAQ's ``disconnect`` to close.

On one server nothing changes: the same key names and SAQ's own code.

:class:`WorkerQueue` adds the two fixes for workers:

1. Outages: SAQ's worker restarts its dequeue loop at once after an error, so a dead
   Redis makes it spin and log a traceback per call. Here dequeue waits ``retry_s`` and
   the periodic calls (schedule, sweep, worker info, and the abort check's ``jobs``)
   return "nothing"; one warning per outage.
2. The sweep race (SAQ issue #277): a worker moves a job to the active list (BLMOVE)
   and only then marks its record ``active``; a sweep in between sees an active-list
   job whose record says ``queued``, calls it lost and aborts it -- later overwriting
   its real result. Our sweep script only hands SAQ such a job when an *earlier* sweep
   (one sweep lock period ago, 60 s by default) already saw it that way; jobs whose
   record says ``active`` go to SAQ as before (it sweeps those only when stuck).

Fix 2 replaces SAQ's private ``_cleanup_script`` (same keys, args and reply shape), and
the cluster ``abort`` follows SAQ's own; ``saq`` is pinned to 0.26.x for that reason and
``tests/tasks`` covers both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, cast

from saq.job import ABORT_ID_PREFIX, Job, Status
from saq.queue.redis import RedisQueue

from perpwatch.redis_client import REDIS_ERRORS, RedisClient, is_cluster
from perpwatch.tasks.saq.jobs import is_hash_tag

logger = logging.getLogger(__name__)

_SWEEP = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SETEX', KEYS[1], ARGV[1], 1)
  local suspects = KEYS[1] .. ':suspects'
  local seen = {}
  for _, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local raw = redis.call('GET', v)
    local status = 'missing'
    if raw then
      local ok, job = pcall(cjson.decode, raw)
      status = (ok and type(job) == 'table' and job['status']) or 'new'
    end
    if status == 'active' or redis.call('SISMEMBER', suspects, v) == 1 then
      id_jobs[#id_jobs + 1] = {v, raw or false}
    else
      seen[#seen + 1] = v
    end
  end
  redis.call('DEL', suspects)
  for _, v in ipairs(seen) do redis.call('SADD', suspects, v) end
  if #seen > 0 then redis.call('EXPIRE', suspects, 3 * tonumber(ARGV[1])) end
end
return id_jobs
"""


class ClusterJob(Job):
    """A SAQ job whose abort key carries its queue's hash tag (a Redis Cluster only)."""

    @property
    def abort_id(self) -> str:
        return f"{ABORT_ID_PREFIX}{self.get_queue().name}:{self.key}"


class PerpwatchQueue(RedisQueue):
    """SAQ's :class:`RedisQueue` on one Redis server or on a Redis Cluster."""

    def __init__(self, redis: RedisClient, *, name: str, **kwargs: Any) -> None:
        self.cluster = is_cluster(redis)
        if self.cluster and not is_hash_tag(name):
            raise ValueError(f"on a Redis Cluster the queue name must be a hash tag, not {name!r}")
        # SAQ types its client as a plain Redis; a RedisCluster answers every command it uses
        super().__init__(cast(Any, redis), name=name, **kwargs)

    def new_job(self, **fields: Any) -> Job:
        """A job of this queue (on a cluster, with its abort key in the queue's slot)."""
        return ClusterJob(**fields) if self.cluster else Job(**fields)

    def deserialize(
        self, payload: dict[str, Any] | str | bytes | None, status: Status | str | None = None
    ) -> Job | None:
        if not self.cluster:
            return super().deserialize(payload, status)
        # SAQ's deserialize, building a ClusterJob
        if not payload:
            return None
        job_dict = payload if isinstance(payload, dict) else self._load(payload)
        if job_dict.pop("queue") != self.name:
            raise ValueError(f"Job {job_dict} fetched by wrong queue: {self.name}")
        if status:
            job_dict["status"] = status
        return ClusterJob(**job_dict, queue=self)

    async def abort(self, job: Job, error: str, ttl: float = 5) -> None:
        if not self.cluster:
            await super().abort(job, error, ttl)
            return
        # SAQ's abort, with PUBLISH after the transaction (a cluster pipeline refuses it)
        async with self._op_sem:
            job.status = Status.ABORTING
            job.error = error
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lrem(self._queued, 0, job.id)
                pipe.zrem(self._incomplete, job.id)
                pipe.set(job.id, self.serialize(job))
                pipe.set(job.abort_id, error, ex=max(1, round(ttl)))
                dequeued, *_ = await pipe.execute()
            await self.notify(job)
            if dequeued:
                await self.finish(job, Status.ABORTED, error=error)
                await self.redis.delete(job.abort_id)
            else:
                await self.redis.lrem(self._active, 0, job.id)

    async def disconnect(self) -> None:
        if not self.cluster:
            await super().disconnect()
            return
        pubsub = self._pubsub.pubsub
        if pubsub.connection is not None:  # never subscribed: nothing to unsubscribe
            await self._pubsub.close()
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
        await self.redis.aclose()


class WorkerQueue(PerpwatchQueue):
    """A :class:`PerpwatchQueue` for workers (see the module docstring)."""

    retry_s = 1.0

    def __init__(self, redis: RedisClient, *, name: str, **kwargs: Any) -> None:
        super().__init__(redis, name=name, **kwargs)
        self._cleanup_script = redis.register_script(_SWEEP)
        self.redis_down = False
        self.paused = False  # draining: take no new jobs

    def _down(self, e: BaseException) -> None:
        if not self.redis_down:
            self.redis_down = True
            logger.warning(
                "SAQ worker lost Redis (%s); waiting for it to come back",
                str(e) or type(e).__name__,
            )

    def _up(self) -> None:
        if self.redis_down:
            self.redis_down = False
            logger.warning("SAQ worker reconnected to Redis")

    async def dequeue(
        self,
        timeout: float = 0.0,  # noqa: ASYNC109 - SAQ's signature
        poll_interval: float = 0.0,
    ) -> Job | None:
        if self.paused:
            await asyncio.sleep(max(timeout, 0.05))
            return None
        try:
            job = await super().dequeue(timeout, poll_interval)
        except REDIS_ERRORS as e:
            self._down(e)
            await asyncio.sleep(self.retry_s)
            return None
        self._up()
        return job

    async def schedule(self, lock: int = 1) -> list[str]:
        try:
            return await super().schedule(lock)
        except REDIS_ERRORS as e:
            self._down(e)
            return []

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        try:
            return await super().sweep(lock, abort)
        except REDIS_ERRORS as e:
            self._down(e)
            return []

    async def write_worker_info(self, worker_id: str, info: Any, ttl: int) -> None:
        try:
            await super().write_worker_info(worker_id, info, ttl)
        except REDIS_ERRORS as e:
            self._down(e)

    async def jobs(self, job_keys: Iterable[str]) -> list[Job | None]:
        """What a worker's abort check (once a second, while jobs run) reads."""
        try:
            return await super().jobs(job_keys)
        except REDIS_ERRORS as e:
            self._down(e)
            return []
