from __future__ import annotations

import asyncio
import time

from perpwatch.coordination.election import LeaderElection, lease_key_ttl_s
from perpwatch.coordination.lease import RedisLease
from perpwatch.redis_client import RedisClient

LEASE_S = 1.0


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    async def elected(self) -> None:
        self.events.append("elected")

    async def deposed(self) -> None:
        self.events.append("deposed")


def make(client: RedisClient, owner: str, rec: Recorder) -> LeaderElection:
    lease = RedisLease(client, key="t:lead", owner=owner, ttl_s=lease_key_ttl_s(LEASE_S))
    return LeaderElection(lease, lease_s=LEASE_S, on_elected=rec.elected, on_deposed=rec.deposed)


async def wait_for(cond: object, timeout_s: float = 3.0) -> float:
    start = time.monotonic()
    while not cond():  # type: ignore[operator]
        assert time.monotonic() - start < timeout_s, "condition not met in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_exactly_one_leader_and_takeover_after_a_silent_death(client: RedisClient) -> None:
    recs = [Recorder() for _ in range(3)]
    elections = [make(client, f"p{i}", r) for i, r in enumerate(recs)]
    for e in elections:
        e.start()
    try:
        await wait_for(lambda: any(e.is_leader for e in elections))
        await asyncio.sleep(3 * LEASE_S)  # several renewals: still exactly one leader
        leaders = [e for e in elections if e.is_leader]
        assert len(leaders) == 1
        leader = leaders[0]
        # a silent death: the campaign stops without stepping down or releasing
        task = leader._bg._task
        assert task is not None
        task.cancel()
        leader._bg._task = None
        leader.is_leader = False
        took = await wait_for(lambda: any(e.is_leader for e in elections if e is not leader))
        assert took <= LEASE_S, f"takeover took {took:.2f}s, more than the lease"
    finally:
        for e in elections:
            await e.stop()
    assert sum(r.events.count("elected") for r in recs) == 2


async def test_stop_releases_so_the_next_takes_over_at_once(client: RedisClient) -> None:
    ra, rb = Recorder(), Recorder()
    a, b = make(client, "a", ra), make(client, "b", rb)
    a.start()
    await wait_for(lambda: a.is_leader)
    b.start()
    try:
        await a.stop()
        assert ra.events == ["elected", "deposed"]
        took = await wait_for(lambda: b.is_leader)
        assert took <= 0.3  # the lease was given up, no wait for it to expire
    finally:
        await b.stop()


async def test_steps_down_at_once_when_the_lease_is_lost(client: RedisClient) -> None:
    rec = Recorder()
    a = make(client, "a", rec)
    a.start()
    try:
        await wait_for(lambda: a.is_leader)
        await client.set("t:lead", "intruder")  # e.g. after a failover lost the write
        await wait_for(lambda: not a.is_leader, timeout_s=LEASE_S)
        assert rec.events == ["elected", "deposed"]
        assert await client.get("t:lead") == b"intruder"
    finally:
        await a.stop()
