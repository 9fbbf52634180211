from __future__ import annotations

import asyncio

from perpwatch.coordination.lease import RedisLease
from perpwatch.redis_client import RedisClient


async def test_one_owner_at_a_time(client: RedisClient) -> None:
    a = RedisLease(client, key="t:lease", owner="a", ttl_s=5)
    b = RedisLease(client, key="t:lease", owner="b", ttl_s=5)
    assert await a.acquire()
    assert not await b.acquire()
    assert await a.acquire()  # re-acquiring one's own lease renews it
    holder = await b.holder()
    assert holder is not None and holder.owner == "a" and 4 < holder.expires_in_s <= 5


async def test_renew_and_release_only_by_the_owner(client: RedisClient) -> None:
    a = RedisLease(client, key="t:lease", owner="a", ttl_s=5)
    b = RedisLease(client, key="t:lease", owner="b", ttl_s=5)
    assert await a.acquire()
    assert not await b.renew()
    assert not await b.release()
    assert await a.renew()
    assert await a.release()
    assert await a.holder() is None
    assert await b.acquire()


async def test_an_expired_lease_goes_to_the_next_and_the_old_owner_cannot_renew(
    client: RedisClient,
) -> None:
    a = RedisLease(client, key="t:lease", owner="a", ttl_s=0.15)
    b = RedisLease(client, key="t:lease", owner="b", ttl_s=5)
    assert await a.acquire()
    await asyncio.sleep(0.3)
    assert await b.acquire()
    assert not await a.renew()
    assert not await a.release()
    holder = await a.holder()
    assert holder is not None and holder.owner == "b"
