"""The SAQ Redis queue perpwatch workers use: SAQ's, with two fixes.

1. Outages: SAQ's worker restarts its dequeue loop at once after an error, so a dead
   Redis makes it spin and log a traceback per call. Here dequeue waits ``retry_s`` and
   the periodic calls return "nothing"; one warning per outage.
2. The sweep race (SAQ issue #277): a worker moves a job to the active list (BLMOVE)
   and only then marks its record ``active``; a sweep in between sees an active-list
   job whose record says ``queued``, calls it lost and aborts it -- later overwriting
   its real result. Our sweep script only hands SAQ such a job when an *earlier* sweep
   (one sweep lock period ago, 60 s by default) already saw it that way; jobs whose
   record says ``active`` go to SAQ as before (it sweeps those only when stuck).

Fix 2 replaces SAQ's private ``_cleanup_script`` (same keys, args and reply shape);
``saq`` is pinned to 0.26.x for that reason and ``tests/tasks`` covers it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from saq.job import Job
from saq.queue.redis import RedisQueue

from perpwatch.tasks.saq.jobs import REDIS_ERRORS

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


class WorkerQueue(RedisQueue):
    """A :class:`RedisQueue` for workers (see the module docstring)."""

    retry_s = 1.0

    def __init__(self, redis: aioredis.Redis, **kwargs: Any) -> None:
        super().__init__(redis, **kwargs)
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
