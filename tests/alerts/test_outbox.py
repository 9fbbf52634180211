"""The outbox on a real Redis and in memory: one enqueue per id, the cooldown, one
claimer at a time, a dead claimer's alerts coming back, and the capped history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from perpwatch.alerts.outbox import MemoryOutbox, Outbox, RedisOutbox
from perpwatch.redis_client import close_redis, open_redis
from tests.alerts.helpers import record


@pytest.fixture(params=["redis", "memory"])
async def outbox(request: pytest.FixtureRequest) -> AsyncIterator[Outbox]:
    if request.param == "memory":
        yield MemoryOutbox(history_size=5, clock_ms=lambda: time.time() * 1000)
        return
    url = request.getfixturevalue("redis_url")
    client = open_redis(url, socket_timeout_s=2.0)
    yield RedisOutbox(client, history_size=5)
    await close_redis(client)


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_an_id_is_enqueued_once_and_the_cooldown_holds(outbox: Outbox) -> None:
    t = now_ms()
    kw = {"cooldown_ms": 300, "seen_ttl_ms": 60_000}
    assert await outbox.enqueue(record("a", created_at_ms=t), cooldown_digest="d", **kw) == "queued"
    assert (
        await outbox.enqueue(record("a", created_at_ms=t), cooldown_digest="d", **kw) == "duplicate"
    )
    assert (
        await outbox.enqueue(record("b", created_at_ms=t), cooldown_digest="d", **kw) == "cooldown"
    )
    assert await outbox.enqueue(record("c", created_at_ms=t), cooldown_digest="e", **kw) == "queued"
    await asyncio.sleep(0.4)
    assert await outbox.enqueue(record("d", created_at_ms=t), cooldown_digest="d", **kw) == "queued"
    # b was seen (in its cooldown): read again, it stays suppressed
    assert (
        await outbox.enqueue(record("b", created_at_ms=t), cooldown_digest="d", **kw) == "duplicate"
    )
    assert await outbox.depth() == 3


async def test_one_claimer_at_a_time_and_expired_claims_return(outbox: Outbox) -> None:
    t = now_ms()
    for i in range(3):
        await outbox.enqueue(
            record(f"a{i}", created_at_ms=t),
            cooldown_digest=f"d{i}",
            cooldown_ms=0,
            seen_ttl_ms=60_000,
        )
    first = await outbox.claim(claimer="p1", now_ms=t, lease_ms=1000, limit=2)
    second = await outbox.claim(claimer="p2", now_ms=t, lease_ms=1000, limit=10)
    assert len(first) == 2 and len(second) == 1
    assert {r.id for r in first} | {r.id for r in second} == {"a0", "a1", "a2"}
    assert await outbox.claim(claimer="p3", now_ms=t + 999, lease_ms=1000, limit=10) == []
    # p1 died: after its lease, p3 gets p1's (and p2's unfinished) alerts back
    later = await outbox.claim(claimer="p3", now_ms=t + 1001, lease_ms=10_000, limit=10)
    assert {r.id for r in later} == {"a0", "a1", "a2"}
    # p1 comes back and wants to retry: the alert is p3's now
    again = first[0].model_copy(update={"attempts": 1})
    assert not await outbox.finish(again, claimer="p1", next_ms=t + 5000)
    done = later[0].model_copy(update={"state": "delivered", "attempts": 1})
    assert await outbox.finish(done, claimer="p3", next_ms=None)
    retry = later[1].model_copy(update={"attempts": 1})
    assert await outbox.finish(retry, claimer="p3", next_ms=t + 5000)
    assert await outbox.claim(claimer="p4", now_ms=t + 4999, lease_ms=1000, limit=10) == []
    due = await outbox.claim(claimer="p4", now_ms=t + 5001, lease_ms=10_000, limit=10)
    assert [r.id for r in due] == [retry.id]
    assert due[0].attempts == 1
    states = {r.id: r.state for r in await outbox.history(10)}
    assert states[done.id] == "delivered"
    assert await outbox.depth() == 2


async def test_history_is_newest_first_and_capped(outbox: Outbox) -> None:
    t = now_ms()
    for i in range(8):
        await outbox.enqueue(
            record(f"h{i}", created_at_ms=t + i),
            cooldown_digest=f"d{i}",
            cooldown_ms=0,
            seen_ttl_ms=60_000,
        )
    for r in await outbox.claim(claimer="p", now_ms=t + 100, lease_ms=1000, limit=100):
        await outbox.finish(r.model_copy(update={"state": "delivered"}), claimer="p", next_ms=None)
    history = await outbox.history(50)
    assert [r.id for r in history] == ["h7", "h6", "h5", "h4", "h3"]
    assert all(r.state == "delivered" for r in history)
    assert [r.id for r in await outbox.history(2)] == ["h7", "h6"]
    assert await outbox.depth() == 0
