"""Event buses: the in-process MemoryBus, and RedisBus on one real redis-server and on a
real 3-master Redis Cluster (no mocks). The same semantics are asked of all three:
dense per-channel sequence numbers from 1, exact resume with ``after``, ``None`` once
what a client missed is gone, and ``wait`` for what comes next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import pytest

from perpwatch.errors import CacheUnavailable
from perpwatch.push.bus import EventBus, MemoryBus
from perpwatch.push.events import CHANNELS, Channel, Event
from perpwatch.push.redis_bus import RedisBus, seq_key, stream_key
from perpwatch.redis_client import RedisClient, close_redis, learn_nodes, open_redis
from tests.support.redis_server import RedisServer


class FakeClock:
    """Wall time in seconds that moves only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class BusFactory(Protocol):
    def __call__(
        self,
        *,
        max_events: int = ...,
        retention_s: float = ...,
        clock: Callable[[], float] = ...,
    ) -> EventBus: ...


class Redis:
    """How a test reaches the Redis under a RedisBus: its URL and whether it is a cluster,
    and the clients opened for it (closed after the test)."""

    def __init__(self, url: str, cluster: bool) -> None:
        self.url = url
        self.cluster = cluster
        self.clients: list[RedisClient] = []
        self.buses: list[RedisBus] = []

    def client(self, socket_timeout_s: float = 2.0) -> RedisClient:
        c = open_redis(self.url, cluster=self.cluster, socket_timeout_s=socket_timeout_s)
        self.clients.append(c)
        return c

    def bus(
        self,
        *,
        max_events: int = 1000,
        retention_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
        client: RedisClient | None = None,
    ) -> RedisBus:
        # the blocking reads get a client of their own, with a socket timeout above the block
        b = RedisBus(
            client or self.client(),
            max_events=max_events,
            retention_s=retention_s,
            reader=open_redis(self.url, cluster=self.cluster, socket_timeout_s=5.0),
            clock=clock,
        )
        self.buses.append(b)
        return b

    async def close(self) -> None:
        for b in self.buses:
            await b.close()
        for c in self.clients:
            await close_redis(c)


@pytest.fixture(params=["single", "cluster"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    """A flushed Redis: the shared single server, or the shared Redis Cluster."""
    cluster = request.param == "cluster"
    url = str(request.getfixturevalue("cluster_url" if cluster else "redis_url"))
    r = Redis(url, cluster)
    try:
        yield r
    finally:
        await r.close()


@pytest.fixture(params=["memory", "single", "cluster"])
async def make_bus(request: pytest.FixtureRequest) -> AsyncIterator[BusFactory]:
    """Buses of one kind: MemoryBus, or RedisBus on one server or on the cluster."""
    if request.param == "memory":

        def memory(
            *,
            max_events: int = 1000,
            retention_s: float = 3600.0,
            clock: Callable[[], float] = time.time,
        ) -> EventBus:
            return MemoryBus(max_events=max_events, retention_s=retention_s, clock=clock)

        yield memory
        return
    cluster = request.param == "cluster"
    url = str(request.getfixturevalue("cluster_url" if cluster else "redis_url"))
    r = Redis(url, cluster)
    try:
        yield r.bus
    finally:
        await r.close()


def seqs(events: list[Event] | None) -> list[int]:
    assert events is not None
    return [e.seq for e in events]


async def publish_n(bus: EventBus, n: int, clock: FakeClock | None = None) -> list[Event]:
    out = []
    for i in range(n):
        if clock is not None:
            clock.now += 1.0
        out.append(
            await bus.publish("analysis", json.dumps({"n": i}), symbol="BTCUSDT", timeframe="15m")
        )
    return out


# --- every bus ----------------------------------------------------------------------------


async def test_an_empty_bus(make_bus: BusFactory) -> None:
    bus = make_bus()
    for channel in CHANNELS:
        assert await bus.last_seq(channel) == 0
        assert await bus.after(channel, 0, limit=10) == []


async def test_seqs_start_at_one_and_are_dense_per_channel(make_bus: BusFactory) -> None:
    bus = make_bus()
    published: dict[Channel, list[int]] = {c: [] for c in CHANNELS}
    for type_ in [
        "analysis",
        "funding",
        "analysis",
        "signal_change",
        "arbitrage",
        "funding",
        "analysis",
    ]:
        e = await bus.publish(type_, "{}")  # type: ignore[arg-type]
        published[e.channel].append(e.seq)
    # analysis and signal_change share the signals channel; each channel counts on its own
    assert published == {"signals": [1, 2, 3, 4], "funding": [1, 2], "arbitrage": [1]}
    assert {c: await bus.last_seq(c) for c in CHANNELS} == {
        "signals": 4,
        "funding": 2,
        "arbitrage": 1,
    }
    stored = await bus.after("signals", 0, limit=100)
    assert seqs(stored) == [1, 2, 3, 4]
    assert [e.type for e in stored or []] == ["analysis", "analysis", "signal_change", "analysis"]


async def test_event_fields_round_trip(make_bus: BusFactory) -> None:
    clock = FakeClock(1_700_000_123.456)
    bus = make_bus(clock=clock)
    data = json.dumps(
        {"symbol": "BTCUSDT", "note": "prix é → 😀", "nested": {"a": [1, 2.5, None, True]}},
        ensure_ascii=False,
    )
    a = await bus.publish("analysis", data, symbol="BTCUSDT", timeframe="15m")
    clock.now += 2.0
    f = await bus.publish("funding", '{"exchange":"binance","rows":{}}')
    assert (a.channel, a.seq, a.type, a.symbol, a.timeframe, a.ts_ms, a.data) == (
        "signals",
        1,
        "analysis",
        "BTCUSDT",
        "15m",
        1_700_000_123_456,
        data,
    )
    assert (f.channel, f.seq, f.symbol, f.timeframe, f.ts_ms) == (
        "funding",
        1,
        None,
        None,
        1_700_000_125_456,
    )
    # what a reader gets back is the event published, field for field
    assert await bus.after("signals", 0, limit=10) == [a]
    assert await bus.after("funding", 0, limit=10) == [f]
    stored = (await bus.after("signals", 0, limit=10) or [])[0]
    assert stored.frame == a.frame


async def test_frame_is_json_with_the_data_as_published(make_bus: BusFactory) -> None:
    bus = make_bus(clock=FakeClock(1_700_000_000.0))
    data = '{"symbol":"ETHUSDT","hama_analysis":{"recommendation":"BUY"},"x":[1,{"y":"é"}]}'
    await bus.publish("analysis", "{}", symbol="BTCUSDT", timeframe="15m")
    published = await bus.publish("signal_change", data, symbol="ETHUSDT", timeframe="15m")
    for e in (published, *(await bus.after("signals", 1, limit=10) or [])):
        assert json.loads(e.frame) == {
            "type": "signal_change",
            "channel": "signals",
            "seq": 2,
            "ts": 1_700_000_000_000,
            "data": json.loads(data),
        }


async def test_after_returns_exactly_the_events_after_seq(make_bus: BusFactory) -> None:
    bus = make_bus()
    published = await publish_n(bus, 10)
    for seq in range(11):
        got = await bus.after("signals", seq, limit=100)
        assert got == published[seq:], f"after({seq})"
    assert seqs(await bus.after("signals", 2, limit=3)) == [3, 4, 5]
    assert seqs(await bus.after("signals", 9, limit=3)) == [10]
    assert await bus.after("signals", 10, limit=100) == []  # up to date
    assert await bus.after("funding", 0, limit=100) == []  # another channel: untouched


async def test_after_is_none_once_the_events_after_seq_are_past_retention(
    make_bus: BusFactory,
) -> None:
    clock = FakeClock(1000.0)
    bus = make_bus(retention_s=10, clock=clock)
    for at in (1000.0, 1004.0, 1008.0):
        clock.now = at
        await bus.publish("analysis", "{}", symbol="BTCUSDT", timeframe="15m")
    assert seqs(await bus.after("signals", 0, limit=10)) == [1, 2, 3]  # all within 10 s

    clock.now = 1012.5  # cutoff 1002.5: event 1 (at 1000) goes, 2 (at 1004) stays
    await bus.publish("analysis", "{}", symbol="BTCUSDT", timeframe="15m")
    assert await bus.after("signals", 0, limit=10) is None  # event 1 is gone
    assert seqs(await bus.after("signals", 1, limit=10)) == [2, 3, 4]
    assert seqs(await bus.after("signals", 3, limit=10)) == [4]

    clock.now = 1030.0  # cutoff 1020: everything before this event goes
    await bus.publish("analysis", "{}", symbol="BTCUSDT", timeframe="15m")
    for seq in (0, 1, 2, 3):
        assert await bus.after("signals", seq, limit=10) is None, f"after({seq})"
    assert seqs(await bus.after("signals", 4, limit=10)) == [5]
    assert await bus.after("signals", 5, limit=10) == []
    assert await bus.last_seq("signals") == 5
    # the other channels are not touched by the signals' trimming
    assert await bus.after("funding", 0, limit=10) == []


async def test_wait_returns_new_events(make_bus: BusFactory) -> None:
    bus = make_bus()
    await publish_n(bus, 3)
    waiter = asyncio.create_task(bus.wait("signals", 3, timeout_s=5.0))
    await asyncio.sleep(0.05)  # the waiter is blocked now
    assert not waiter.done()
    new = await publish_n(bus, 2)
    got = await asyncio.wait_for(waiter, 5.0)
    assert got and got == new[: len(got)]  # the first one at least, in order, nothing older
    # behind the bus: what is there comes back at once
    started = time.monotonic()
    assert seqs(await bus.wait("signals", 1, timeout_s=5.0)) == [2, 3, 4, 5]
    assert time.monotonic() - started < 1.0


async def test_wait_times_out_with_nothing(make_bus: BusFactory) -> None:
    bus = make_bus()
    await publish_n(bus, 2)
    started = time.monotonic()
    assert await bus.wait("signals", 2, timeout_s=0.2) == []
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 2.0
    assert await bus.wait("funding", 0, timeout_s=0.05) == []  # an empty channel


async def test_wait_after_trimmed_events_returns_the_retained_ones(
    make_bus: BusFactory,
) -> None:
    """A reader behind retention gets what is left, first seq past its own + 1: the hub
    sees the gap and resets its clients."""
    clock = FakeClock(1000.0)
    bus = make_bus(retention_s=10, clock=clock)
    await publish_n(bus, 3, clock)  # at 1001, 1002, 1003
    clock.now = 1012.5
    await bus.publish("analysis", "{}", symbol="BTCUSDT", timeframe="15m")  # 1, 2 go
    got = seqs(await bus.wait("signals", 0, timeout_s=1.0))
    assert got == [3, 4]


# --- MemoryBus ------------------------------------------------------------------------------


async def test_memory_bus_count_cap_is_exact() -> None:
    bus = MemoryBus(max_events=5, retention_s=3600)
    await publish_n(bus, 8)
    assert await bus.last_seq("signals") == 8
    assert await bus.after("signals", 2, limit=100) is None  # 3 is gone
    assert seqs(await bus.after("signals", 3, limit=100)) == [4, 5, 6, 7, 8]
    assert seqs(await bus.wait("signals", 0, timeout_s=0.1)) == [4, 5, 6, 7, 8]


async def test_memory_bus_wakes_every_waiter() -> None:
    bus = MemoryBus(max_events=100, retention_s=3600)
    waiters = [asyncio.create_task(bus.wait("funding", 0, timeout_s=5.0)) for _ in range(5)]
    await asyncio.sleep(0.01)
    e = await bus.publish("funding", '{"rows":{}}')
    assert await asyncio.wait_for(asyncio.gather(*waiters), 5.0) == [[e]] * 5


# --- RedisBus -------------------------------------------------------------------------------


async def test_two_buses_publishing_concurrently_share_one_dense_sequence(redis: Redis) -> None:
    clients = [redis.client(), redis.client()]
    for c in clients:
        # as in production, where the client has served other commands before it publishes.
        # A cluster client's very first commands go to one node unrouted; 200 at once get
        # MOVED, redis-py then closes every connection of the client with commands in
        # flight, and retries them: scripts that ran are run twice (see the lost-reply test)
        assert await learn_nodes(c)
    a, b = (redis.bus(client=c) for c in clients)
    n = 200
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).publish("analysis", json.dumps({"i": i}), symbol="BTCUSDT")
            for i in range(n)
        )
    )
    assert sorted(e.seq for e in results) == list(range(1, n + 1))  # dense, no duplicate
    stored = await a.after("signals", 0, limit=1000)
    assert seqs(stored) == list(range(1, n + 1))
    # each stored event is the one its publisher was told it published
    by_data = {e.data: e.seq for e in results}
    assert len(by_data) == n
    assert all(by_data[e.data] == e.seq for e in stored or [])
    assert await a.last_seq("signals") == await b.last_seq("signals") == n
    assert seqs(await b.after("signals", 150, limit=1000)) == list(range(151, n + 1))


async def test_count_cap_trims_but_keeps_at_least_max_events(redis: Redis) -> None:
    bus = redis.bus(max_events=10)
    for i in range(300):
        await bus.publish("funding", json.dumps({"i": i}))
    length = await redis.client().xlen(stream_key("funding"))
    assert 10 <= length < 300  # MAXLEN ~: whole nodes go, never below the cap
    assert await bus.after("funding", 0, limit=1000) is None
    kept = await bus.after("funding", 300 - length, limit=1000)
    assert seqs(kept) == list(range(301 - length, 301))
    assert seqs(await bus.after("funding", 290, limit=1000)) == list(range(291, 301))


async def test_a_lost_seq_counter_continues_after_the_stream(redis: Redis) -> None:
    """The counter key gone (evicted, or a failover lost the write) while the stream is
    there: numbering goes on after the stream's last entry, never repeats."""
    bus = redis.bus()
    await publish_n(bus, 5)
    client = redis.client()
    assert await client.delete(seq_key("signals")) == 1
    e = await bus.publish("analysis", '{"after":"loss"}', symbol="BTCUSDT", timeframe="15m")
    assert e.seq == 6
    assert await bus.last_seq("signals") == 6
    assert seqs(await bus.after("signals", 0, limit=100)) == [1, 2, 3, 4, 5, 6]
    # counter set back below the stream: the same
    await client.set(seq_key("signals"), 2)
    assert (await bus.publish("analysis", "{}")).seq == 7
    assert seqs(await bus.after("signals", 5, limit=100)) == [6, 7]


async def test_each_channel_is_one_stream_and_one_counter(redis: Redis) -> None:
    bus = redis.bus()
    await bus.publish("analysis", "{}", symbol="BTCUSDT", timeframe="15m")
    await bus.publish("signal_change", "{}", symbol="BTCUSDT", timeframe="15m")
    await bus.publish("arbitrage", '{"count":0}')
    client = redis.client()
    assert await client.xlen(stream_key("signals")) == 2
    assert await client.xlen(stream_key("arbitrage")) == 1
    assert await client.exists(stream_key("funding")) == 0
    assert await client.get(seq_key("signals")) == b"2"
    # entry ids are the sequence numbers
    entries: Any = await client.xrange(stream_key("signals"))
    assert [i for i, _f in entries] == [b"1-0", b"2-0"]


async def test_redis_down_is_cache_unavailable(fresh_redis_server: RedisServer) -> None:
    client = open_redis(fresh_redis_server.url, socket_timeout_s=0.5)
    bus = RedisBus(client, max_events=100, retention_s=60)
    try:
        await bus.publish("funding", "{}")
        fresh_redis_server.stop()
        with pytest.raises(CacheUnavailable, match="event not published"):
            await bus.publish("funding", "{}")
        with pytest.raises(CacheUnavailable):
            await bus.last_seq("funding")
        with pytest.raises(CacheUnavailable):
            await bus.after("funding", 0, limit=10)
        with pytest.raises(CacheUnavailable):
            await bus.wait("funding", 1, timeout_s=0.1)
    finally:
        await bus.close()
        await close_redis(client)


class ReplyCutter:
    """A TCP proxy to a redis-server that, once armed, lets the next command containing
    ``marker`` through and, when the server's reply comes back, closes the client's
    connection instead of passing the reply on: the command ran, the client never hears
    it (a connection lost at the wrong moment)."""

    def __init__(self, target_port: int, marker: bytes) -> None:
        self.target_port = target_port
        self.marker = marker
        self.armed = False
        self.cut = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.close()
        if self._tasks:  # closed sockets end every handler by itself
            _done, pending = await asyncio.wait(self._tasks, timeout=2.0)
            assert not pending

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.append(task)
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_w]
        cutting = False

        async def client_to_server() -> None:
            nonlocal cutting
            while data := await reader.read(65536):
                if self.armed and self.marker in data:
                    self.armed, cutting = False, True
                up_w.write(data)
                await up_w.drain()

        async def server_to_client() -> None:
            while data := await up_r.read(65536):
                if cutting:  # the reply to the marked command: drop it and the connection
                    self.cut += 1
                    writer.close()
                    up_w.close()
                    return
                writer.write(data)
                await writer.drain()

        with contextlib.suppress(OSError):
            await asyncio.gather(client_to_server(), server_to_client())


async def test_a_lost_reply_does_not_publish_the_event_twice(
    redis_url: str, redis_server: RedisServer
) -> None:
    """The client retries a command once on a fresh connection when the first one fails
    (``open_redis``: ``Retry(NoBackoff(), 1)``). If the publish script had run before the
    connection was lost, the retry runs it again: the same event is stored under two
    sequence numbers, and every client receives it twice (a ``signal_change`` twice)."""
    proxy = ReplyCutter(redis_server.port, b"EVALSHA")
    await proxy.start()
    client = open_redis(f"redis://127.0.0.1:{proxy.port}/0", socket_timeout_s=2.0)
    bus = RedisBus(client, max_events=100, retention_s=3600)
    try:
        await bus.publish("analysis", '{"n":0}')  # the script is loaded now (no NOSCRIPT)
        proxy.armed = True
        e = await bus.publish("signal_change", '{"n":1}', symbol="BTCUSDT", timeframe="15m")
        assert proxy.cut == 1  # the reply was lost, and the client retried
        stored = await bus.after("signals", 0, limit=10)
        assert [x.data for x in stored or []] == ['{"n":0}', '{"n":1}'], "published twice"
        assert e.seq == 2
    finally:
        await close_redis(client)
        await proxy.stop()
