from __future__ import annotations

from perpwatch.constants import PROCESSES_KEY
from perpwatch.coordination.registry import ProcessRegistry, new_process_id
from perpwatch.redis_client import RedisClient


def test_process_ids_are_unique_and_readable() -> None:
    a, b = new_process_id("worker"), new_process_id("worker")
    assert a != b and a.startswith("worker-")


async def test_live_lists_fresh_records_and_prunes_dead_ones(client: RedisClient) -> None:
    now = [1000.0]
    w = ProcessRegistry(
        client,
        process_id="w1",
        role="worker",
        heartbeat_s=2,
        describe=lambda: {"shards": 1},
        clock=lambda: now[0],
    )
    await w.beat()
    now[0] += 5
    a = ProcessRegistry(client, process_id="a1", role="api", heartbeat_s=2, clock=lambda: now[0])
    await a.beat()
    await client.hset(PROCESSES_KEY, "junk", b"not json")
    live = await a.live()
    assert [r["id"] for r in live] == ["w1", "a1"]
    assert live[0]["shards"] == 1 and live[0]["role"] == "worker"
    now[0] += 2  # w1 last seen 7 s ago: more than 3 heartbeats
    assert [r["id"] for r in await a.live()] == ["a1"]
    assert not await client.hexists(PROCESSES_KEY, "junk")
    now[0] += 400
    assert await a.live() == []
    assert await client.hlen(PROCESSES_KEY) == 0
    await w.stop()
