"""The durable queue of alerts: enqueued once, claimed by one sender at a time, kept in a
capped history with their delivery state.

On Redis (every key under the hash tag ``{outbox}``, so each script runs on one node of
a cluster):

* ``…:due`` zset: alert id -> when to try next (ms); ``…:claimed`` zset: id -> when the
  sender's claim runs out; ``…:owner`` hash: id -> the sender holding it;
* ``…:records`` hash: id -> :class:`AlertRecord` JSON; ``…:history`` list: ids, newest first,
  capped (a record leaves the hash when it has left the list and is not queued);
* ``…:seen:<id>`` (``SET NX``, TTL above ``ALERT_MAX_AGE_SECONDS``): an alert read twice
  (a re-read after a crash, two processes that both believe they lead) is enqueued once;
* ``…:cooldown:<digest>`` (``SET NX PX``): one alert per rule, subject and kind of change
  per ``ALERT_COOLDOWN_SECONDS``.

``ENQUEUE``, ``CLAIM`` and ``FINISH`` are Lua scripts, so each step is atomic. A claim
whose sender died (SIGKILL) runs out and the next ``CLAIM`` puts the alert back in due.

:class:`MemoryOutbox` is the same logic on in-process structures (``REDIS_ENABLED=false``:
one process, nothing survives a restart).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, Literal, Protocol

from perpwatch.alerts.models import AlertRecord
from perpwatch.constants import (
    ALERT_CLAIMED_KEY,
    ALERT_DUE_KEY,
    ALERT_HISTORY_KEY,
    ALERT_OWNER_KEY,
    ALERT_RECORDS_KEY,
    alert_cooldown_key,
    alert_seen_key,
)
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

EnqueueOutcome = Literal["queued", "duplicate", "cooldown"]
TERMINAL = -1  # FINISH's next-attempt argument for a delivered, failed or dropped alert

_ENQUEUE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 'duplicate' end
if tonumber(ARGV[4]) > 0 then
  if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[4]) then return 'cooldown' end
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('LPUSH', KEYS[5], ARGV[1])
while redis.call('LLEN', KEYS[5]) > tonumber(ARGV[6]) do
  local old = redis.call('RPOP', KEYS[5])
  if not redis.call('ZSCORE', KEYS[3], old) and not redis.call('ZSCORE', KEYS[6], old) then
    redis.call('HDEL', KEYS[4], old)
  end
end
return 'queued'
"""

_CLAIM = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZADD', KEYS[1], ARGV[1], id)
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local rec = redis.call('HGET', KEYS[4], id)
  if rec then
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    redis.call('HSET', KEYS[3], id, ARGV[3])
    table.insert(out, rec)
  end
end
return out
"""

_FINISH = """
local terminal = ARGV[4] == '-1'
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] and not terminal then
  return 0  -- the claim ran out and someone else holds the alert now: theirs to retry
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if terminal then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if not redis.call('LPOS', KEYS[5], ARGV[1]) then
    redis.call('HDEL', KEYS[4], ARGV[1])
    return 1
  end
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
return 1
"""


class Outbox(Protocol):
    async def enqueue(
        self, record: AlertRecord, *, cooldown_digest: str, cooldown_ms: int, seen_ttl_ms: int
    ) -> EnqueueOutcome: ...

    async def claim(
        self, *, claimer: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[AlertRecord]:
        """Due alerts, now held by ``claimer`` until ``now_ms + lease_ms``."""

    async def finish(self, record: AlertRecord, *, claimer: str, next_ms: int | None) -> bool:
        """Store ``record``; ``next_ms``: when to try again (None: it is done)."""

    async def history(self, limit: int) -> list[AlertRecord]: ...

    async def depth(self) -> int:
        """Alerts queued or being sent."""


def _edge(what: str, e: BaseException) -> CacheUnavailable:
    return CacheUnavailable(f"alert outbox {what}: {e or type(e).__name__}")


class RedisOutbox:
    def __init__(self, client: RedisClient, *, history_size: int) -> None:
        self._client = client
        self._history_size = history_size
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)

    async def enqueue(
        self, record: AlertRecord, *, cooldown_digest: str, cooldown_ms: int, seen_ttl_ms: int
    ) -> EnqueueOutcome:
        keys = [
            alert_seen_key(record.id),
            alert_cooldown_key(cooldown_digest),
            ALERT_DUE_KEY,
            ALERT_RECORDS_KEY,
            ALERT_HISTORY_KEY,
            ALERT_CLAIMED_KEY,
        ]
        args: list[str | int] = [
            record.id,
            record.model_dump_json(),
            seen_ttl_ms,
            cooldown_ms,
            record.next_attempt_ms or record.created_at_ms,
            self._history_size,
        ]
        try:
            outcome: Any = await self._enqueue(keys=keys, args=args)
        except REDIS_ERRORS as e:
            raise _edge("enqueue", e) from e
        text = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if text not in ("queued", "duplicate", "cooldown"):
            raise CacheUnavailable(f"alert outbox enqueue answered {text[:40]!r}")
        return text  # type: ignore[return-value]

    async def claim(
        self, *, claimer: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[AlertRecord]:
        keys = [ALERT_DUE_KEY, ALERT_CLAIMED_KEY, ALERT_OWNER_KEY, ALERT_RECORDS_KEY]
        try:
            raw: Any = await self._claim(
                keys=keys, args=[now_ms, now_ms + lease_ms, claimer, limit]
            )
        except REDIS_ERRORS as e:
            raise _edge("claim", e) from e
        return [AlertRecord.model_validate_json(r) for r in raw or []]

    async def finish(self, record: AlertRecord, *, claimer: str, next_ms: int | None) -> bool:
        keys = [
            ALERT_DUE_KEY,
            ALERT_CLAIMED_KEY,
            ALERT_OWNER_KEY,
            ALERT_RECORDS_KEY,
            ALERT_HISTORY_KEY,
        ]
        args: list[str | int] = [
            record.id,
            claimer,
            record.model_dump_json(),
            TERMINAL if next_ms is None else next_ms,
        ]
        try:
            done: Any = await self._finish(keys=keys, args=args)
        except REDIS_ERRORS as e:
            raise _edge("finish", e) from e
        return bool(done)

    async def history(self, limit: int) -> list[AlertRecord]:
        try:
            ids: Any = await self._client.lrange(ALERT_HISTORY_KEY, 0, limit - 1)
            raw: Any = await self._client.hmget(ALERT_RECORDS_KEY, ids) if ids else []
        except REDIS_ERRORS as e:
            raise _edge("history", e) from e
        return [AlertRecord.model_validate_json(r) for r in raw if r is not None]

    async def depth(self) -> int:
        try:
            due: Any = await self._client.zcard(ALERT_DUE_KEY)
            claimed: Any = await self._client.zcard(ALERT_CLAIMED_KEY)
        except REDIS_ERRORS as e:
            raise _edge("depth", e) from e
        return int(due) + int(claimed)


class MemoryOutbox:
    """One process's outbox (memory-only mode); each method runs without awaiting, so it
    is atomic on the event loop. Seen ids and cooldowns expire like the Redis keys."""

    def __init__(self, *, history_size: int, clock_ms: Callable[[], float]) -> None:
        self._history_size = history_size
        self._clock_ms = clock_ms
        self._seen: dict[str, int] = {}  # id -> expiry (ms)
        self._cooldowns: dict[str, int] = {}
        self._due: dict[str, int] = {}
        self._claimed: dict[str, tuple[int, str]] = {}
        self._records: dict[str, AlertRecord] = {}
        self._history: collections.deque[str] = collections.deque()

    @staticmethod
    def _expire(table: dict[str, int], now: int) -> None:
        for key in [k for k, at in table.items() if at <= now]:
            del table[key]

    async def enqueue(
        self, record: AlertRecord, *, cooldown_digest: str, cooldown_ms: int, seen_ttl_ms: int
    ) -> EnqueueOutcome:
        now = int(self._clock_ms())
        self._expire(self._seen, now)
        self._expire(self._cooldowns, now)
        if self._seen.get(record.id, 0) > now:
            return "duplicate"
        self._seen[record.id] = now + seen_ttl_ms
        if cooldown_ms > 0:
            if self._cooldowns.get(cooldown_digest, 0) > now:
                return "cooldown"
            self._cooldowns[cooldown_digest] = now + cooldown_ms
        self._records[record.id] = record
        self._due[record.id] = record.next_attempt_ms or record.created_at_ms
        self._history.appendleft(record.id)
        while len(self._history) > self._history_size:
            old = self._history.pop()
            if old not in self._due and old not in self._claimed:
                self._records.pop(old, None)
        return "queued"

    async def claim(
        self, *, claimer: str, now_ms: int, lease_ms: int, limit: int
    ) -> list[AlertRecord]:
        for alert_id, (deadline, _) in list(self._claimed.items()):
            if deadline <= now_ms:
                del self._claimed[alert_id]
                self._due[alert_id] = now_ms
        ready = sorted((at, i) for i, at in self._due.items() if at <= now_ms)[:limit]
        out: list[AlertRecord] = []
        for _, alert_id in ready:
            del self._due[alert_id]
            record = self._records.get(alert_id)
            if record is not None:
                self._claimed[alert_id] = (now_ms + lease_ms, claimer)
                out.append(record)
        return out

    async def finish(self, record: AlertRecord, *, claimer: str, next_ms: int | None) -> bool:
        held = self._claimed.get(record.id)
        if (held is None or held[1] != claimer) and next_ms is not None:
            return False
        self._claimed.pop(record.id, None)
        if next_ms is None:
            self._due.pop(record.id, None)
            if record.id not in self._history:
                self._records.pop(record.id, None)
                return True
        else:
            self._due[record.id] = next_ms
        self._records[record.id] = record
        return True

    async def history(self, limit: int) -> list[AlertRecord]:
        ids = list(self._history)[:limit]
        return [self._records[i] for i in ids if i in self._records]

    async def depth(self) -> int:
        return len(self._due) + len(self._claimed)
