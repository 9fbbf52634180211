from __future__ import annotations

import asyncio
import time

from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.coordination.shard_consumer import Outcome, ShardConsumer
from perpwatch.coordination.shards import ShardJob, ShardQueue, split
from perpwatch.errors import TemporaryExchangeError
from perpwatch.redis_client import RedisClient


class Ledger:
    """Stands for the cache: which cycle last wrote each symbol, and how often."""

    def __init__(self, *, delay_s: float = 0.0, failing: frozenset[str] = frozenset()) -> None:
        self.written: dict[str, str] = {}
        self.writes: dict[str, int] = {}
        self.delay_s = delay_s
        self.failing = failing
        self.four_written = asyncio.Event()

    async def refresh(self, symbol: str, cycle_id: str) -> Outcome:
        if self.written.get(symbol) == cycle_id:
            return "skipped"
        await asyncio.sleep(self.delay_s)
        if symbol in self.failing:
            raise TemporaryExchangeError(f"{symbol}: exchange said no")
        self.written[symbol] = cycle_id
        self.writes[symbol] = self.writes.get(symbol, 0) + 1
        if len(self.writes) >= 4:
            self.four_written.set()
        return "ok"


async def wait_done(q: ShardQueue, cycle_id: str, timeout_s: float) -> dict[int, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        _, states = await q.board(cycle_id)
        if states and all(s.state in ("done", "failed") for s in states.values()):
            return {i: s.state for i, s in states.items()}
        assert time.monotonic() < deadline, f"cycle not complete: {states}"
        await asyncio.sleep(0.05)


def consumer(
    client: RedisClient, name: str, ledger: Ledger, queue: ShardQueue | None = None
) -> ShardConsumer:
    return ShardConsumer(
        queue=queue or ShardQueue(client),
        store=ScheduleStore(client),
        refresh=ledger.refresh,
        consumer_id=name,
        slots=1,
        concurrency=2,
        touch_s=0.1,
        reclaim_after_s=0.5,
    )


async def test_two_workers_share_a_cycle_and_report_failures(client: RedisClient) -> None:
    ledger = Ledger(delay_s=0.01, failing=frozenset({"S3USDT"}))
    q = ShardQueue(client)
    symbols = [f"S{i}USDT" for i in range(20)]
    workers = [consumer(client, f"w{i}", ledger) for i in range(2)]
    for w in workers:
        w.start()
    try:
        await q.publish(cycle_id="c1", timeframe="15m", shards=split(symbols, 4), meta={})
        assert set((await wait_done(q, "c1", 15)).values()) == {"done"}
    finally:
        for w in workers:
            await w.stop()
    _, states = await q.board("c1")
    assert sum(s.ok for s in states.values()) == 19
    assert sum(s.failed for s in states.values()) == 1
    assert states[0].failures == {"S3USDT": "S3USDT: exchange said no"}
    assert {s.worker for s in states.values()} == {"w0", "w1"}
    assert set(ledger.writes.values()) == {1}
    errors = await ScheduleStore(client).errors()
    assert set(errors) == {"S3USDT"}


async def test_a_killed_workers_shard_is_redone_without_writing_a_symbol_twice(
    client: RedisClient,
) -> None:
    ledger = Ledger(delay_s=0.05)
    q = ShardQueue(client)
    symbols = [f"S{i}USDT" for i in range(12)]
    victim = consumer(client, "victim", ledger)
    victim.start()
    await q.publish(cycle_id="c2", timeframe="15m", shards=split(symbols, 12), meta={})
    await asyncio.wait_for(ledger.four_written.wait(), 5)  # mid-shard: some written, most not
    await victim.stop()  # dies: no report, no ack
    _, states = await q.board("c2")
    assert states[0].state == "running" and states[0].worker == "victim"
    rescuer = consumer(client, "rescuer", ledger)
    rescuer.start()
    try:
        assert await wait_done(q, "c2", 15) == {0: "done"}
    finally:
        await rescuer.stop()
    _, states = await q.board("c2")
    assert states[0].worker == "rescuer" and states[0].attempts == 2
    assert states[0].skipped >= 4 and states[0].ok + states[0].skipped == 12
    assert sorted(ledger.writes) == sorted(symbols)
    assert set(ledger.writes.values()) == {1}, "a symbol was computed twice in one cycle"
    assert rescuer.shards_reclaimed == 1


class BrokenOnce(ShardQueue):
    """A real queue whose first reclaim fails with an error that is not a Redis error (a
    RuntimeError, as uvloop's closed transport raised before REDIS_ERRORS knew it)."""

    failed = False

    async def reclaim(self, consumer: str, *, min_idle_ms: int, count: int = 1) -> list[ShardJob]:
        if not self.failed:
            self.failed = True
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>")
        return await super().reclaim(consumer, min_idle_ms=min_idle_ms, count=count)


async def test_an_unexpected_error_taking_a_shard_does_not_stop_the_worker(
    client: RedisClient,
) -> None:
    ledger = Ledger()
    queue = BrokenOnce(client)
    w = consumer(client, "w0", ledger, queue)
    w.start()
    try:
        await ShardQueue(client).publish(
            cycle_id="c9", timeframe="15m", shards=split(["AUSDT", "BUSDT"], 1), meta={}
        )
        assert set((await wait_done(queue, "c9", 10)).values()) == {"done"}
    finally:
        await w.stop()
    assert queue.failed and ledger.writes == {"AUSDT": 1, "BUSDT": 1}
