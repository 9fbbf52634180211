"""Redis while it answers, in-process memory while it does not, and back by itself.

Every write goes to the memory mirror and, while Redis is healthy, to Redis. Reads go
to Redis while it is healthy, else to memory. The first failing Redis call of an outage
switches to memory (that call is answered from memory), logs one warning and starts a
probe that PINGs Redis every ``probe_interval_s``. When Redis answers, the probe writes
back what this process wrote or deleted during the outage (with the remaining TTLs) and
only then switches reads back to Redis. While in memory mode nothing but the probe
touches Redis, so a dead Redis never slows a request down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TypeVar

from perpwatch.cache.base import Cache, CacheHit, CacheSource, check_ttl
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from perpwatch.errors import CacheUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")


class FailoverCache:
    """The cache perpwatch uses. Never raises because Redis is down."""

    def __init__(
        self,
        *,
        redis: RedisCache | None,
        memory: MemoryCache,
        probe_interval_s: float = 1.0,
    ) -> None:
        if probe_interval_s <= 0:
            raise ValueError("probe_interval_s must be positive")
        self._redis = redis
        self._memory = memory
        self._probe_interval_s = probe_interval_s
        self._on_redis = redis is not None
        self._redis_errors = 0
        self._outages = 0
        self._last_switch_at: float | None = None
        self._outage_started: float | None = None  # monotonic
        self._dirty: set[str] = set()  # keys written or deleted during the outage
        self._probe: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # strong refs to background tasks
        self._closed = False

    # --- state ------------------------------------------------------------------

    @property
    def source(self) -> CacheSource:
        """The backend answering reads now."""
        return "redis" if self._on_redis else "memory"

    @property
    def redis_enabled(self) -> bool:
        return self._redis is not None

    @property
    def redis_available(self) -> bool:
        return self._on_redis

    @property
    def redis_errors(self) -> int:
        """Redis calls that failed (each was answered from memory instead)."""
        return self._redis_errors

    @property
    def last_switch_at(self) -> float | None:
        """Epoch seconds of the last switch between Redis and memory."""
        return self._last_switch_at

    @property
    def outages(self) -> int:
        return self._outages

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """PING Redis once; if it does not answer, start in memory mode. Never raises."""
        if self._redis is None or self._closed:
            return
        if not self._on_redis:
            self._start_probe()
        elif not await self._redis.ping():
            self._redis_down(CacheUnavailable("no answer to PING at start"))

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._redis is not None:
            await self._redis.close()

    async def confirm(self) -> bool:
        """Whether Redis answers now, asked with one PING while it is believed up (a
        failure switches to memory as any failed operation does). ``/health`` asks, so it
        does not report "up" from the last operation alone when nothing else has used the
        cache since (an idle replica, a stopped schedule)."""
        redis = self._redis if self._on_redis else None
        if redis is not None and not await redis.ping():
            self._redis_down(CacheUnavailable("Redis did not answer PING"))
        return self._on_redis

    # --- reads ---------------------------------------------------------------------

    async def _read(self, op: Callable[[Cache], Awaitable[T]]) -> tuple[T, CacheSource]:
        redis = self._redis if self._on_redis else None
        if redis is not None:
            try:
                return await op(redis), "redis"
            except CacheUnavailable as e:
                self._redis_down(e)
        return await op(self._memory), "memory"

    @property
    def reads_memory(self) -> bool:
        """Reads are answered from memory now (Redis disabled or down)."""
        return not self._on_redis

    def memory_get(self, key: str) -> CacheHit | None:
        """:meth:`get` without an await, for when :attr:`reads_memory`."""
        value = self._memory.get_now(key)
        return None if value is None else CacheHit(value, "memory")

    async def get(self, key: str) -> CacheHit | None:
        value, source = await self._read(lambda c: c.get(key))
        return None if value is None else CacheHit(value, source)

    async def mget(self, keys: Sequence[str]) -> list[CacheHit | None]:
        values, source = await self._read(lambda c: c.mget(keys))
        return [None if v is None else CacheHit(v, source) for v in values]

    async def scan_keys(self, prefix: str) -> list[str]:
        keys, _ = await self._read(lambda c: c.scan_keys(prefix))
        return keys

    async def count(self, prefix: str) -> int:
        return len(await self.scan_keys(prefix))

    async def ttl_s(self, key: str) -> float | None:
        ttl, _ = await self._read(lambda c: c.ttl_s(key))
        return ttl

    # --- writes --------------------------------------------------------------------

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        check_ttl(ttl_s)
        self._memory.set_now(key, value, ttl_s=ttl_s)
        await self._write(key, lambda r: r.set(key, value, ttl_s=ttl_s))

    async def delete(self, key: str) -> None:
        self._memory.delete_now(key)
        await self._write(key, lambda r: r.delete(key))

    async def _write(self, key: str, op: Callable[[RedisCache], Awaitable[None]]) -> None:
        if self._redis is None:
            return
        if not self._on_redis:
            self._dirty.add(key)
            return
        try:
            await op(self._redis)
        except CacheUnavailable as e:
            self._redis_down(e)
            self._dirty.add(key)

    # --- failover ------------------------------------------------------------------

    def _redis_down(self, error: CacheUnavailable) -> None:
        self._redis_errors += 1
        if not self._on_redis:  # already in an outage (concurrent calls failing)
            return
        self._on_redis = False
        self._outages += 1
        self._outage_started = time.monotonic()
        self._last_switch_at = time.time()
        logger.warning("Redis unavailable (%s); serving from memory until it answers again", error)
        self._start_probe()

    def _start_probe(self) -> None:
        if self._closed or self._redis is None or self._probe is not None:
            return
        task = asyncio.get_running_loop().create_task(
            self._probe_loop(self._redis), name="perpwatch-redis-probe"
        )
        self._probe = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe_loop(self, redis: RedisCache) -> None:
        try:
            while True:
                await asyncio.sleep(self._probe_interval_s)
                try:
                    if await self._try_recover(redis):
                        return
                except Exception:  # the probe must survive surprises, or we never recover
                    logger.exception("Redis probe failed unexpectedly; probing again")
        finally:
            if self._probe is asyncio.current_task():
                self._probe = None

    async def _try_recover(self, redis: RedisCache) -> bool:
        if not await redis.ping():
            return False
        written = 0
        try:
            while self._dirty:  # writes made while we write back are written back too
                keys, self._dirty = self._dirty, set()
                try:
                    written += await self._write_back(redis, keys)
                except BaseException:
                    self._dirty |= keys
                    raise
        except CacheUnavailable as e:
            logger.debug("Redis answered PING but the write-back failed: %s", e)
            return False
        # No await from here on: the switch is atomic for every other coroutine.
        started = self._outage_started
        outage_s = time.monotonic() - started if started is not None else 0.0
        self._on_redis = True
        self._outage_started = None
        self._last_switch_at = time.time()
        self._probe = None
        logger.info(
            "Redis is back after %.1f s; serving from Redis again (%d entries written back)",
            outage_s,
            written,
        )
        return True

    async def _write_back(self, redis: RedisCache, keys: AbstractSet[str]) -> int:
        live = [item for item in self._memory.items_with_ttl() if item[0] in keys]
        gone = set(keys).difference(item[0] for item in live)
        if live:
            await redis.set_many(live)
        if gone:
            await redis.delete_many(sorted(gone))
        return len(live)
