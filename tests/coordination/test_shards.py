from __future__ import annotations

import asyncio

import pytest

from perpwatch.constants import SHARD_STREAM_KEY
from perpwatch.coordination.shards import ShardQueue, ShardState, split
from perpwatch.redis_client import RedisClient


def test_split_keeps_order_and_bounds() -> None:
    assert split(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert split([], 3) == []
    with pytest.raises(ValueError):
        split(["a"], 0)


async def test_each_shard_goes_to_one_worker_and_the_board_tracks_it(client: RedisClient) -> None:
    q = ShardQueue(client)
    shards = split([f"S{i}USDT" for i in range(7)], 3)
    await q.publish(cycle_id="15m:1", timeframe="15m", shards=shards, meta={"leader": "x"})
    meta, states = await q.board("15m:1")
    assert meta is not None and meta["shards"] == 3 and meta["leader"] == "x"
    assert {i: s.state for i, s in states.items()} == {0: "queued", 1: "queued", 2: "queued"}

    taken = []
    for consumer in ("w1", "w2", "w1", "w2"):
        job = await q.take(consumer, block_ms=50)
        if job is not None:
            taken.append((consumer, job))
    assert [j.index for _, j in taken] == [0, 1, 2]
    assert taken[0][1].symbols == ["S0USDT", "S1USDT", "S2USDT"]
    for consumer, job in taken:
        assert await q.set_state(job, ShardState("done", len(job.symbols), worker=consumer, ok=1))
        await q.finish(job)
    _, states = await q.board("15m:1")
    assert [states[i].worker for i in range(3)] == ["w1", "w2", "w1"]
    assert await client.xlen(SHARD_STREAM_KEY) == 0


async def test_a_dead_workers_shard_is_reclaimed_a_live_ones_is_not(client: RedisClient) -> None:
    q = ShardQueue(client)
    await q.publish(cycle_id="c", timeframe="15m", shards=[["A"], ["B"]], meta={})
    dead = await q.take("dead", block_ms=50)
    alive = await q.take("alive", block_ms=50)
    assert dead is not None and alive is not None
    await asyncio.sleep(0.3)
    assert await q.touch("alive", alive.entry_id)  # the live worker keeps touching its shard
    got = await q.reclaim("rescuer", min_idle_ms=200, count=10)
    assert [j.index for j in got] == [dead.index]
    assert await q.reclaim("rescuer2", min_idle_ms=200, count=10) == []
    # the dead worker, were it only slow, can no longer touch (and so take back) its shard
    assert not await q.touch("dead", dead.entry_id)
    assert await q.touch("rescuer", dead.entry_id)


async def test_state_is_not_written_once_the_board_is_gone(client: RedisClient) -> None:
    q = ShardQueue(client)
    await q.publish(cycle_id="gone", timeframe="15m", shards=[["A"]], meta={})
    job = await q.take("w", block_ms=50)
    assert job is not None
    await client.delete("hama:cycle:gone:shards")
    assert not await q.set_state(job, ShardState("done", 1))
    assert not await client.exists("hama:cycle:gone:shards")
