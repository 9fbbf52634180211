"""The result cache: Redis when it answers, in-process memory when it does not.

- :mod:`perpwatch.cache.base` -- the :class:`Cache` protocol every backend implements.
- :mod:`perpwatch.cache.memory` -- :class:`MemoryCache`, TTL semantics like Redis, bounded.
- :mod:`perpwatch.cache.redis_cache` -- :class:`RedisCache`, redis-py errors become
  :class:`perpwatch.errors.CacheUnavailable`.
- :mod:`perpwatch.cache.failover` -- :class:`FailoverCache`, what the rest of perpwatch
  uses: reads from Redis while it is healthy, otherwise from a memory mirror that every
  write also goes to, and switches back to Redis by itself when it answers again.
"""

from __future__ import annotations

from perpwatch.cache.base import Cache, CacheHit, CacheSource
from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache

__all__ = ["Cache", "CacheHit", "CacheSource", "FailoverCache", "MemoryCache", "RedisCache"]
