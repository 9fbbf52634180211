"""A lease in Redis: at most one owner at a time, for as long as it keeps renewing.

``SET key owner NX PX ttl`` takes it; renewing and releasing are compare-and-set Lua
scripts, so an owner whose lease expired (and was taken by another) can neither extend
nor delete the new owner's lease. One key, so it works the same on a Redis Cluster.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

logger = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    owner: str
    expires_in_s: float


class RedisLease:
    """``acquire``/``renew``/``release`` raise :class:`CacheUnavailable` when Redis does
    not answer; a caller that cannot renew must assume it lost the lease."""

    def __init__(self, client: RedisClient, *, key: str, owner: str, ttl_s: float) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self._client = client
        self.key = key
        self.owner = owner
        self.ttl_ms = max(1, round(ttl_s * 1000))

    async def acquire(self) -> bool:
        """Take the lease if nobody holds it; ``True`` if this owner holds it now."""
        try:
            if await self._client.set(self.key, self.owner, nx=True, px=self.ttl_ms):
                return True
            return await self.renew()  # already ours (e.g. a retried acquire)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"lease {self.key}: {e or type(e).__name__}") from e

    async def renew(self) -> bool:
        """Extend the lease by its TTL if this owner still holds it."""
        try:
            done = await self._client.eval(_RENEW, 1, self.key, self.owner, str(self.ttl_ms))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"lease {self.key}: {e or type(e).__name__}") from e
        return bool(done)

    async def release(self) -> bool:
        """Give the lease up if this owner holds it; ``True`` if it was released."""
        try:
            done = await self._client.eval(_RELEASE, 1, self.key, self.owner)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"lease {self.key}: {e or type(e).__name__}") from e
        return bool(done)

    async def holder(self) -> LeaseHolder | None:
        """Who holds the lease now, and for how much longer; ``None`` if nobody does."""
        return await lease_holder(self._client, self.key)


async def lease_holder(client: RedisClient, key: str) -> LeaseHolder | None:
    """Who holds the lease at ``key``, for any process (a candidate or not)."""
    try:
        async with client.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.pttl(key)
            owner, pttl = await pipe.execute()
    except REDIS_ERRORS as e:
        raise CacheUnavailable(f"lease {key}: {e or type(e).__name__}") from e
    if owner is None or pttl is None or pttl < 0:
        return None
    return LeaseHolder(owner.decode(), pttl / 1000.0)
