from __future__ import annotations

import asyncio

from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.redis_client import RedisClient


async def test_a_cycle_is_claimed_once_however_many_ask(client: RedisClient) -> None:
    store = ScheduleStore(client)
    results = await asyncio.gather(
        *(store.claim_cycle("15m", 1_000, owner=f"p{i}", ttl_s=60) for i in range(10))
    )
    assert sorted(results) == [False] * 9 + [True]
    assert await store.claim_cycle("15m", 2_000, owner="p1", ttl_s=60)
    assert await store.claim_cycle("1h", 1_000, owner="p1", ttl_s=60)


async def test_state_control_and_listed_round_trip(client: RedisClient) -> None:
    store = ScheduleStore(client)
    assert await store.state() is None and await store.control() is None
    await store.save_state({"next_start_ms": 5, "runs": 2})
    await store.save_control({"generation": 3, "running": False})
    await store.save_listed(["BTCUSDT", "ETHUSDT"], ttl_s=60)
    assert await store.state() == {"next_start_ms": 5, "runs": 2}
    assert await store.control() == {"generation": 3, "running": False}
    assert await store.listed() == ["BTCUSDT", "ETHUSDT"]
    await client.set("hama:scheduler:state", b"{not json")
    assert await store.state() is None


async def test_refresh_errors_are_recorded_and_cleared(client: RedisClient) -> None:
    store = ScheduleStore(client)
    await store.record_errors({"BTCUSDT": (1.5, "exchange down"), "ETHUSDT": (2.0, "x" * 1000)})
    errors = await store.errors()
    assert errors["BTCUSDT"] == (1.5, "exchange down")
    assert len(errors["ETHUSDT"][1]) == 300
    await store.clear_errors(["BTCUSDT"])
    assert set(await store.errors()) == {"ETHUSDT"}
