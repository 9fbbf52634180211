"""In-process cache with Redis TTL semantics, bounded in size.

Expired entries are invisible at once (checked on read) and are dropped by a sweep on
every write that only touches what has expired, using a heap ordered by expiry. The
same heap picks the entries closest to expiry when ``max_entries`` would be exceeded.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence

from perpwatch.cache.base import check_ttl


class MemoryCache:
    """A :class:`~perpwatch.cache.base.Cache` living in this process only."""

    def __init__(
        self, *, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}  # key -> (value, expires_at)
        # (expires_at, key); an item is stale when the key's expiry changed since.
        self._heap: list[tuple[float, str]] = []

    @property
    def max_entries(self) -> int:
        return self._max_entries

    def __len__(self) -> int:
        """Entries held, including expired ones not swept yet."""
        return len(self._data)

    def _live(self, key: str, now: float) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._data[key]
            return None
        return entry[0]

    def _pop_heap(self) -> tuple[float, str] | None:
        """Remove and return the earliest non-stale heap item, if any."""
        while self._heap:
            expires_at, key = heapq.heappop(self._heap)
            entry = self._data.get(key)
            if entry is not None and entry[1] == expires_at:
                return expires_at, key
        return None

    def _sweep(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            item = self._pop_heap()
            if item is None:
                break
            if item[0] > now:  # popped a live one past stale items: put it back
                heapq.heappush(self._heap, item)
                break
            del self._data[item[1]]

    def _compact_heap(self) -> None:
        """Drop stale heap items once they outnumber the live ones (keys rewritten often)."""
        if len(self._heap) > 2 * len(self._data) + 64:
            self._heap = [(exp, key) for key, (_, exp) in self._data.items()]
            heapq.heapify(self._heap)

    async def get(self, key: str) -> str | None:
        return self._live(key, self._clock())

    def get_now(self, key: str) -> str | None:
        """Synchronous :meth:`get`."""
        return self._live(key, self._clock())

    async def mget(self, keys: Sequence[str]) -> list[str | None]:
        now = self._clock()
        return [self._live(k, now) for k in keys]

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        self.set_now(key, value, ttl_s=ttl_s)

    def set_now(self, key: str, value: str, *, ttl_s: float) -> None:
        """Synchronous :meth:`set` (no await point, so atomic under asyncio)."""
        check_ttl(ttl_s)
        now = self._clock()
        self._sweep(now)
        if key not in self._data:
            while len(self._data) >= self._max_entries:
                victim = self._pop_heap()
                if victim is None:  # pragma: no cover - heap always covers _data
                    break
                del self._data[victim[1]]
        expires_at = now + ttl_s
        self._data[key] = (value, expires_at)
        heapq.heappush(self._heap, (expires_at, key))
        self._compact_heap()

    async def delete(self, key: str) -> None:
        self.delete_now(key)

    def delete_now(self, key: str) -> None:
        """Synchronous :meth:`delete`."""
        self._data.pop(key, None)  # its heap item turns stale

    async def scan_keys(self, prefix: str) -> list[str]:
        now = self._clock()
        return [k for k, (_, exp) in self._data.items() if exp > now and k.startswith(prefix)]

    async def ttl_s(self, key: str) -> float | None:
        now = self._clock()
        if self._live(key, now) is None:
            return None
        return self._data[key][1] - now

    def items_with_ttl(self) -> list[tuple[str, str, float]]:
        """``(key, value, remaining_s)`` for every live entry, to copy them elsewhere."""
        now = self._clock()
        return [(k, v, exp - now) for k, (v, exp) in self._data.items() if exp > now]

    async def ping(self) -> bool:
        return True

    async def clear(self) -> None:
        self._data.clear()
        self._heap.clear()

    async def close(self) -> None:
        await self.clear()
