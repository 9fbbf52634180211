"""perpwatch's own Redis keys next to SAQ's: the dedup claims and the list index.

* ``perpwatch:task:dedup:<queue>:<dedup key>`` -> id of the task that owns it. One Lua
  script reads the owner's SAQ job and replaces the claim only when that job is finished
  or cancelled, so identical submissions -- on any instances, at the same moment -- get
  one task. TTL: the task timeout + 1 day (a task queued longer loses its dedup).
* ``perpwatch:task:index:<queue>``: sorted set id -> submitted_at for ``list``; trimmed
  on every submit to the newest ``max_entries`` and to ``horizon_s``, and expiring after
  ``horizon_s`` without submissions. Ids whose job expired are removed as ``list`` meets
  them.

Both are named after the queue. On a Redis Cluster the queue's name is a hash tag
(``perpwatch:task:dedup:{perpwatch}:…``), so the claim script finds the job keys it reads
in its own slot; on one server the names are as they always were.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from saq.job import Job
from saq.queue.redis import RedisQueue

from perpwatch.constants import TASK_PREFIX
from perpwatch.redis_client import RedisClient
from perpwatch.tasks.saq.jobs import ACTIVE_JOB_STATUSES

DEDUP_GRACE_S = 86400.0
CLAIM_WAIT_S = 2.0  # how long a claimed-but-not-yet-enqueued task may take to appear

# {id, 1}: ``id`` owns the key (ours if we just claimed it) and its job exists;
# {id, 1, job}: another task owns it, and ``job`` is its live SAQ job as stored (so a
# deduplicated submit costs one round trip);
# {id, 0}: ``id`` owns it but has no job yet (its submitter is between claim and enqueue).
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local raw = redis.call('GET', ARGV[3] .. cur)
  if not raw then return {cur, 0} end
  local ok, job = pcall(cjson.decode, raw)
  local st = (ok and type(job) == 'table' and job['status']) or 'new'
  if st == 'new' or st == 'queued' or st == 'active' then return {cur, 1, raw} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {ARGV[1], 1}
"""
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

Edge = Callable[[str], AbstractAsyncContextManager[None]]


def text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class DedupClaims:
    def __init__(self, client: RedisClient, queue: RedisQueue) -> None:
        self._queue = queue
        self._prefix = f"{TASK_PREFIX}dedup:{queue.name}:"
        self._job_prefix = queue.job_id("")
        self._claim = client.register_script(_CLAIM)
        self._take_over = client.register_script(_TAKE_OVER)

    async def claim(self, dedup_key: str, task_id: str, timeout_s: float, edge: Edge) -> Job | None:
        """Claim ``dedup_key`` for ``task_id`` (-> None) or return the live job owning it.

        Each Redis round trip runs inside ``edge(what)`` (error conversion, deadline).
        """
        key = self._prefix + dedup_key
        ttl_ms = int((timeout_s + DEDUP_GRACE_S) * 1000)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLAIM_WAIT_S
        while True:
            async with edge("submit"):
                answer = await self._claim(keys=[key], args=[task_id, ttl_ms, self._job_prefix])
                owner, visible = text(answer[0]), answer[1]
                if owner == task_id:
                    return None
                live = self._queue.deserialize(answer[2]) if len(answer) > 2 else None
                if live is not None and live.status in ACTIVE_JOB_STATUSES:
                    return live
                job = await self._queue.job(owner)
                stale = job is None and not visible and loop.time() >= deadline
                # a stale claim: its submitter died between claim and enqueue; take over
                if stale and await self._take_over(keys=[key], args=[owner, task_id, ttl_ms]):
                    return None
            if job is not None and job.status in ACTIVE_JOB_STATUSES:
                return job
            await asyncio.sleep(0.02)  # the owner's job is not visible yet, or just ended


class TaskIndex:
    def __init__(
        self, client: RedisClient, queue_name: str, *, max_entries: int, horizon_s: float
    ) -> None:
        self._client = client
        self.key = f"{TASK_PREFIX}index:{queue_name}"
        self.max_entries = max_entries
        self._horizon_s = horizon_s

    async def add(self, task_id: str, submitted_at: float) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.zadd(self.key, {task_id: submitted_at})
        pipe.zremrangebyscore(self.key, "-inf", submitted_at - self._horizon_s)
        pipe.zremrangebyrank(self.key, 0, -(self.max_entries + 1))
        pipe.pexpire(self.key, int(self._horizon_s * 1000))
        await pipe.execute()

    async def newest(self, start: int, count: int) -> list[str]:
        raw = await self._client.zrevrange(self.key, start, start + count - 1)
        return [text(i) for i in raw]

    async def remove(self, ids: list[str]) -> None:
        if ids:
            await self._client.zrem(self.key, *ids)
