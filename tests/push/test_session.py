"""A push session behind a running Hub, on a MemoryBus, with a small real StateReader.

What a client is promised: per channel a snapshot (or, resuming, exactly the events after
its sequence number) and then the live events in sequence, none lost and none repeated,
even those that arrive while the snapshot is being read; only what its scope asks for;
and, when it cannot keep up, one ``reset`` and a fresh snapshot, or the door.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from perpwatch.push.bus import MemoryBus
from perpwatch.push.events import CHANNELS, Channel, Event, EventType, Item
from perpwatch.push.hub import Hub
from perpwatch.push.session import RESET_WINDOW_S, Overflow, Scope, Session, pump
from perpwatch.push.subscription import Subscribe

STATE: dict[Channel, list[str]] = {
    "signals": ['{"symbol":"BTCUSDT","rec":"BUY"}', '{"symbol":"ETHUSDT","rec":"SELL"}'],
    "funding": ['{"exchange":"binance","rows":{}}'],
    "arbitrage": ['{"count":0,"opportunities":[]}'],
}


class FixedState:
    """The StateReader of these tests: fixed JSON texts per channel. ``hold()`` makes the
    next reads wait until ``release()``; ``entered`` is set once a read has begun."""

    def __init__(self, texts: dict[Channel, list[str]]) -> None:
        self.texts = texts
        self.calls: list[tuple[Channel, Scope]] = []
        self.entered = asyncio.Event()
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()
        self.entered.clear()

    def release(self) -> None:
        assert self._gate is not None
        self._gate.set()

    async def items(self, channel: Channel, scope: Scope) -> list[str]:
        self.calls.append((channel, scope))
        self.entered.set()
        if self._gate is not None:
            await self._gate.wait()
        return list(self.texts[channel])


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    bus: MemoryBus
    state: FixedState
    hub: Hub

    async def settled(self) -> None:
        """The hub has handed every published event to its sessions."""
        deadline = time.monotonic() + 2.0
        while True:
            lasts = {c: await self.bus.last_seq(c) for c in CHANNELS}
            if all(self.hub.position.get(c) == lasts[c] for c in CHANNELS):
                return
            assert time.monotonic() < deadline, "the hub did not deliver"
            await asyncio.sleep(0.001)

    async def publish(
        self,
        type_: EventType,
        data: str | None = None,
        *,
        symbol: str | None = "BTCUSDT",
        timeframe: str | None = "15m",
        settle: bool = True,
    ) -> Event:
        if type_ in ("funding", "arbitrage"):
            symbol = timeframe = None
        e = await self.bus.publish(
            type_, data or json.dumps({"n": self.hub.delivered}), symbol=symbol, timeframe=timeframe
        )
        if settle:
            await self.settled()
        return e

    def session(
        self, *, queue_max: int = 100, clock: Callable[[], float] = time.monotonic
    ) -> Session:
        s = Session(self.hub, queue_max=queue_max, clock=clock)
        self.hub.sessions.add(s)
        return s


@pytest.fixture
async def make_world() -> AsyncIterator[Callable[..., Any]]:
    hubs: list[Hub] = []

    async def make(*, max_events: int = 1000) -> World:
        bus = MemoryBus(max_events=max_events, retention_s=3600)
        state = FixedState(STATE)
        hub = Hub(bus, state)
        hub.start()
        hubs.append(hub)
        deadline = time.monotonic() + 2.0
        while not all(hub.reading.values()):  # every reader follows the bus now
            assert time.monotonic() < deadline
            await asyncio.sleep(0.001)
        return World(bus, state, hub)

    yield make
    for hub in hubs:
        await hub.stop()


@pytest.fixture
async def world(make_world: Callable[..., Any]) -> World:
    w: World = await make_world()
    return w


def sub(
    *channels: Channel,
    symbols: set[str] | None = None,
    timeframes: set[str] | None = None,
    since: dict[Channel, int] | None = None,
) -> Subscribe:
    return Subscribe(
        channels=channels or ("signals",),
        symbols=None if symbols is None else frozenset(symbols),
        timeframes=None if timeframes is None else frozenset(timeframes),
        since=since or {},
    )


async def drain(session: Session, timeout_s: float = 0.02) -> list[Item]:
    """Every item the session has to send now."""
    out = []
    while (item := await session.next_item(timeout_s)) is not None:
        out.append(item)
    return out


def kinds(items: list[Item]) -> list[tuple[str, Channel | None, int]]:
    return [(i.type, i.channel, i.seq) for i in items]


def snapshot_doc(item: Item) -> Any:
    assert item.type == "snapshot"
    return json.loads(item.frame)


# --- snapshot, then deltas -----------------------------------------------------------------


async def test_snapshot_first_then_deltas_in_seq_order(world: World) -> None:
    before = [await world.publish("analysis") for _ in range(2)]
    session = world.session()
    await session.subscribe(sub("signals"))
    items = await drain(session)
    assert kinds(items) == [("subscribed", None, 0), ("snapshot", "signals", 2)]
    assert json.loads(items[0].frame) == {
        "type": "subscribed",
        "channels": ["signals"],
        "symbols": None,
        "timeframes": None,
        "since": None,
    }
    snap = snapshot_doc(items[1])
    assert (snap["channel"], snap["seq"]) == ("signals", before[-1].seq)
    assert snap["data"] == [json.loads(t) for t in STATE["signals"]]

    after = [await world.publish("analysis") for _ in range(3)]
    after.append(await world.publish("signal_change"))
    items = await drain(session)
    assert kinds(items) == [
        ("analysis", "signals", 3),
        ("analysis", "signals", 4),
        ("analysis", "signals", 5),
        ("signal_change", "signals", 6),
    ]
    assert [i.frame for i in items] == [e.frame for e in after]  # the shared frames
    assert session.position == {"signals": 6}


async def test_events_during_the_snapshot_are_neither_lost_nor_repeated(world: World) -> None:
    early = [await world.publish("analysis") for _ in range(2)]
    session = world.session()
    world.state.hold()
    subscribing = asyncio.create_task(session.subscribe(sub("signals")))
    await asyncio.wait_for(world.state.entered.wait(), 2.0)  # the snapshot is being read

    during = [await world.publish("analysis") for _ in range(3)]  # the hub delivers them
    # a lagging reader hands over an event the snapshot covers, and one twice
    session.offer(early[-1])
    session.offer(during[0])
    assert session.queued == 1  # only "subscribed": the rest waits for the snapshot

    world.state.release()
    await asyncio.wait_for(subscribing, 2.0)
    later = await world.publish("analysis")
    items = await drain(session)
    assert kinds(items) == [
        ("subscribed", None, 0),
        ("snapshot", "signals", 2),  # the state as of seq 2: read before 3 was published
        ("analysis", "signals", 3),
        ("analysis", "signals", 4),
        ("analysis", "signals", 5),
        ("analysis", "signals", 6),
    ]
    assert [i.frame for i in items[2:]] == [e.frame for e in (*during, later)]


async def test_a_snapshot_before_the_reader_has_its_position_waits_for_it() -> None:
    """A client that subscribes while the hub's reader has not yet read where the channel
    stands must not get a snapshot older than that position: the events in between would
    reach nobody. The snapshot waits for the reader (bounded), so nothing is skipped."""
    bus = MemoryBus(max_events=1000, retention_s=3600)
    hub = Hub(bus, FixedState(STATE))
    session = Session(hub, queue_max=100)
    hub.sessions.add(session)
    subscribing = asyncio.create_task(session.subscribe(sub("signals")))
    await asyncio.sleep(0.05)
    assert not subscribing.done()  # waiting for the reader's first position
    await bus.publish("analysis", '{"n":1}', symbol="BTCUSDT", timeframe="15m")
    hub.start()
    try:
        await asyncio.wait_for(subscribing, 2.0)
        await bus.publish("analysis", '{"n":2}', symbol="BTCUSDT", timeframe="15m")
        deadline = time.monotonic() + 2.0
        while hub.position.get("signals") != 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.001)
        got = kinds(await drain(session))
        snap = got[1][2]
        assert got[0][0] == "subscribed" and got[1][:2] == ("snapshot", "signals")
        assert got[2:] == [("analysis", "signals", n) for n in range(snap + 1, 3)]
    finally:
        await hub.stop()


async def test_each_channel_gets_its_own_snapshot(world: World) -> None:
    await world.publish("analysis")
    await world.publish("funding")
    await world.publish("funding")
    session = world.session()
    await session.subscribe(sub("signals", "funding"))
    await world.publish("funding")
    await world.publish("arbitrage")  # not subscribed
    await world.publish("analysis")
    items = await drain(session)
    assert kinds(items) == [
        ("subscribed", None, 0),
        ("snapshot", "signals", 1),
        ("snapshot", "funding", 2),
        ("funding", "funding", 3),
        ("analysis", "signals", 2),
    ]
    assert snapshot_doc(items[2])["data"] == [json.loads(t) for t in STATE["funding"]]
    assert [c for c, _s in world.state.calls] == ["signals", "funding"]


async def test_an_empty_snapshot_is_a_list(world: World) -> None:
    world.state.texts = {**STATE, "arbitrage": []}
    session = world.session()
    await session.subscribe(sub("arbitrage"))
    items = await drain(session)
    assert snapshot_doc(items[1])["data"] == []
    assert snapshot_doc(items[1])["seq"] == 0


# --- scope ---------------------------------------------------------------------------------


async def test_scope_filters_by_symbol_and_timeframe(world: World) -> None:
    session = world.session()
    await session.subscribe(
        sub("signals", "funding", symbols={"BTCUSDT", "SOLUSDT"}, timeframes={"15m"})
    )
    scope = Scope(frozenset({"BTCUSDT", "SOLUSDT"}), frozenset({"15m"}))
    assert world.state.calls == [("signals", scope), ("funding", scope)]
    assert session.scopes == {"signals": scope, "funding": scope}
    await drain(session)

    wanted = [
        await world.publish("analysis", symbol="BTCUSDT", timeframe="15m"),
        await world.publish("signal_change", symbol="SOLUSDT", timeframe="15m"),
    ]
    await world.publish("analysis", symbol="ETHUSDT", timeframe="15m")
    await world.publish("analysis", symbol="BTCUSDT", timeframe="1h")
    await world.publish("signal_change", symbol="ETHUSDT", timeframe="1h")
    wanted.append(await world.publish("analysis", symbol="BTCUSDT", timeframe="15m"))
    funding = await world.publish("funding")  # no symbol: a funding table goes to everyone,
    items = await drain(session)  # its rows cut to the session's symbols
    assert [i.frame for i in items[:-1]] == [w.frame for w in wanted]
    assert items[-1].seq == funding.seq and items[-1].type == "funding"
    assert json.loads(items[-1].frame)["data"] == {**json.loads(funding.data), "rows": {}}
    assert session.position == {"signals": 6, "funding": 1}


def test_scope_matches() -> None:
    def e(symbol: str | None, timeframe: str | None) -> Event:
        return Event("signals", 1, "analysis", symbol, timeframe, 0, "{}")

    everything = Scope(None, None)
    btc = Scope(frozenset({"BTCUSDT"}), None)
    m15 = Scope(None, frozenset({"15m"}))
    nothing = Scope(frozenset(), frozenset())
    assert everything.matches(e("ETHUSDT", "1h"))
    assert btc.matches(e("BTCUSDT", "1h")) and not btc.matches(e("ETHUSDT", "1h"))
    assert m15.matches(e("ETHUSDT", "15m")) and not m15.matches(e("ETHUSDT", "1h"))
    assert not nothing.matches(e("BTCUSDT", "15m"))
    assert nothing.matches(e(None, None))  # unscoped events pass any scope


async def test_a_new_subscribe_replaces_the_scope(world: World) -> None:
    session = world.session()
    await session.subscribe(sub("signals", symbols={"BTCUSDT"}))
    await session.subscribe(sub("signals", symbols={"ETHUSDT"}))
    await drain(session)
    await world.publish("analysis", symbol="BTCUSDT")
    eth = await world.publish("analysis", symbol="ETHUSDT")
    assert [i.frame for i in await drain(session)] == [eth.frame]


# --- resume --------------------------------------------------------------------------------


async def test_resume_with_since_gets_exactly_the_events_after_it(world: World) -> None:
    published = [await world.publish("analysis") for _ in range(5)]
    session = world.session()
    await session.subscribe(sub("signals", since={"signals": 2}))
    live = await world.publish("analysis")
    items = await drain(session)
    assert kinds(items) == [
        ("subscribed", None, 0),
        ("analysis", "signals", 3),
        ("analysis", "signals", 4),
        ("analysis", "signals", 5),
        ("analysis", "signals", 6),
    ]
    assert [i.frame for i in items[1:]] == [e.frame for e in (*published[2:], live)]
    assert json.loads(items[0].frame)["since"] == {"signals": 2}
    assert world.state.calls == []  # no snapshot was read


async def test_resume_when_up_to_date_sends_only_live_events(world: World) -> None:
    for _ in range(3):
        await world.publish("analysis")
    session = world.session()
    await session.subscribe(sub("signals", since={"signals": 3}))
    live = await world.publish("analysis")
    items = await drain(session)
    assert kinds(items) == [("subscribed", None, 0), ("analysis", "signals", 4)]
    assert items[1].frame == live.frame
    assert world.state.calls == []


async def test_resume_replays_only_the_scope_but_moves_past_the_rest(world: World) -> None:
    btc = await world.publish("analysis", symbol="BTCUSDT")
    await world.publish("analysis", symbol="BTCUSDT")
    eth = await world.publish("analysis", symbol="ETHUSDT")
    await world.publish("analysis", symbol="BTCUSDT")
    session = world.session()
    await session.subscribe(sub("signals", symbols={"ETHUSDT"}, since={"signals": btc.seq}))
    items = await drain(session)
    assert [i.frame for i in items[1:]] == [eth.frame]
    assert session.position == {"signals": 4}


async def test_resume_too_old_gets_a_snapshot(make_world: Callable[..., Any]) -> None:
    world: World = await make_world(max_events=3)
    for _ in range(6):
        await world.publish("analysis")
    session = world.session()
    await session.subscribe(sub("signals", since={"signals": 1}))  # 2 is gone
    live = await world.publish("analysis")
    items = await drain(session)
    assert kinds(items) == [
        ("subscribed", None, 0),
        ("snapshot", "signals", 6),
        ("analysis", "signals", 7),
    ]
    assert items[2].frame == live.frame
    # still retained: exact replay
    again = world.session()
    await again.subscribe(sub("signals", since={"signals": 4}))
    assert kinds(await drain(again))[1:] == [
        ("analysis", "signals", 5),
        ("analysis", "signals", 6),
        ("analysis", "signals", 7),
    ]


async def test_resume_further_behind_than_the_queue_gets_a_snapshot(world: World) -> None:
    for _ in range(10):
        await world.publish("analysis")
    session = world.session(queue_max=5)
    await session.subscribe(sub("signals", since={"signals": 0}))
    assert kinds(await drain(session)) == [("subscribed", None, 0), ("snapshot", "signals", 10)]
    near = world.session(queue_max=5)
    await near.subscribe(sub("signals", since={"signals": 7}))  # 3 to replay: fits
    assert kinds(await drain(near))[1:] == [
        ("analysis", "signals", 8),
        ("analysis", "signals", 9),
        ("analysis", "signals", 10),
    ]


async def test_resume_from_ahead_of_the_bus_gets_a_snapshot(world: World) -> None:
    """A client's ``since`` from an earlier history of the bus (the API process of
    memory-only mode restarted, or Redis came back empty): the bus is at 3, the client
    says 50. Nothing after 50 is on the bus, but events 4..50 of the new history are not
    what the client saw; it needs a snapshot, and then every live event."""
    for _ in range(3):
        await world.publish("analysis")
    session = world.session()
    await session.subscribe(sub("signals", since={"signals": 50}))
    live = await world.publish("analysis")
    items = await drain(session)
    assert kinds(items) == [
        ("subscribed", None, 0),
        ("snapshot", "signals", 3),
        ("analysis", "signals", 4),
    ]
    assert items[2].frame == live.frame


# --- unsubscribe ---------------------------------------------------------------------------


async def test_unsubscribe_stops_events(world: World) -> None:
    session = world.session()
    await session.subscribe(sub("signals", "funding"))
    await drain(session)
    session.unsubscribe(("signals",))
    assert json.loads((await drain(session))[0].frame) == {
        "type": "unsubscribed",
        "channels": ["signals"],
        "remaining": ["funding"],
    }
    await world.publish("analysis")
    funding = await world.publish("funding")
    assert [i.frame for i in await drain(session)] == [funding.frame]
    assert session.scopes.keys() == {"funding"}
    assert "signals" not in session.position

    session.unsubscribe(CHANNELS)
    assert json.loads((await drain(session))[0].frame)["remaining"] == []
    await world.publish("funding")
    await world.publish("analysis")
    assert await drain(session) == []


# --- a client that cannot keep up ----------------------------------------------------------


async def overflow_once(world: World, session: Session) -> None:
    """Subscribe (2 items queued) and publish until the queue of 4 overflows."""
    await session.subscribe(sub("signals"))
    assert session.queued == 2
    for _ in range(3):  # 2 fill the queue, the third overflows it
        await world.publish("analysis")
    assert session.queued == 0  # dropped: a reset is due


async def test_overflow_gives_one_reset_then_a_snapshot(world: World) -> None:
    session = world.session(queue_max=4, clock=FakeMonotonic())
    await overflow_once(world, session)
    items = await drain(session)
    assert kinds(items) == [("reset", None, 0), ("snapshot", "signals", 3)]
    assert json.loads(items[0].frame) == {"type": "reset", "channels": ["signals"]}
    assert session.resets == 1 and not session.doomed
    live = await world.publish("analysis")
    assert [i.frame for i in await drain(session)] == [live.frame]


@pytest.mark.parametrize("more", [2, 4])
async def test_overflow_then_more_events_gives_one_reset_then_a_snapshot(
    world: World, more: int
) -> None:
    """Events go on while the client still does not read. The snapshot to come covers
    them: the client is to get its reset, then that snapshot, then what follows. Queued
    ahead of the snapshot they would come after the reset, and a full queue of them
    leaves no room for the snapshot: the client is closed on its first overflow."""
    session = world.session(queue_max=4, clock=FakeMonotonic())
    await overflow_once(world, session)
    for _ in range(more):
        await world.publish("analysis")
    try:
        items = await drain(session)
    except Overflow:
        pytest.fail("closed (Overflow) after a single overflow")
    assert kinds(items) == [("reset", None, 0), ("snapshot", "signals", 3 + more)]


async def test_a_second_overflow_within_the_window_closes(world: World) -> None:
    clock = FakeMonotonic()
    session = world.session(queue_max=4, clock=clock)
    await overflow_once(world, session)
    assert kinds(await drain(session)) == [("reset", None, 0), ("snapshot", "signals", 3)]
    clock.now += RESET_WINDOW_S - 1
    for _ in range(5):  # 4 fill the queue, the fifth overflows it
        await world.publish("analysis")
    assert session.doomed
    with pytest.raises(Overflow):
        await session.next_item(0.01)
    with pytest.raises(Overflow):  # and stays closed
        await session.next_item(0.01)


async def test_a_second_overflow_after_the_window_resets_again(world: World) -> None:
    clock = FakeMonotonic()
    session = world.session(queue_max=4, clock=clock)
    await overflow_once(world, session)
    assert kinds(await drain(session)) == [("reset", None, 0), ("snapshot", "signals", 3)]
    clock.now += RESET_WINDOW_S + 1
    for _ in range(5):
        await world.publish("analysis")
    assert not session.doomed
    assert kinds(await drain(session)) == [("reset", None, 0), ("snapshot", "signals", 8)]
    assert session.resets == 2


async def test_overflow_while_the_snapshot_is_read(world: World) -> None:
    """Events pile up while the snapshot is read (pending); too many: a reset, not a
    pending list without bound."""
    session = world.session(queue_max=3, clock=FakeMonotonic())
    world.state.hold()
    subscribing = asyncio.create_task(session.subscribe(sub("signals")))
    await asyncio.wait_for(world.state.entered.wait(), 2.0)
    for _ in range(4):  # 3 wait, the fourth is one too many
        await world.publish("analysis")
    world.state.release()
    await asyncio.wait_for(subscribing, 2.0)
    items = await drain(session)
    assert kinds(items)[0] == ("reset", None, 0)
    assert kinds(items)[-1] == ("snapshot", "signals", 4)
    assert [k for k in kinds(items) if k[0] == "analysis"] == []


async def test_resync_from_the_hub_gives_a_reset_and_a_snapshot(world: World) -> None:
    session = world.session()
    await session.subscribe(sub("signals"))
    await drain(session)
    await world.publish("analysis")
    await drain(session)
    session.resync("funding")  # not subscribed: nothing
    assert await drain(session) == []
    session.resync("signals")
    assert kinds(await drain(session)) == [("reset", None, 0), ("snapshot", "signals", 1)]


# --- the hub's snapshots ---------------------------------------------------------------------


async def test_hub_reuses_a_fresh_snapshot_of_the_same_scope_and_seq() -> None:
    bus = MemoryBus(max_events=100, retention_s=3600)
    state = FixedState(STATE)
    mono = FakeMonotonic()
    hub = Hub(bus, state, clock=lambda: 1_700_000_000.0, monotonic=mono)
    everything = Scope(None, None)
    first = await hub.snapshot("signals", everything)
    assert await hub.snapshot("signals", everything) == first
    assert len(state.calls) == 1
    assert json.loads(first[1]) == {
        "type": "snapshot",
        "channel": "signals",
        "seq": 0,
        "ts": 1_700_000_000_000,
        "data": [json.loads(t) for t in STATE["signals"]],
    }
    await hub.snapshot("signals", Scope(frozenset({"BTCUSDT"}), None))  # another scope
    assert len(state.calls) == 2
    await bus.publish("analysis", "{}")
    assert (await hub.snapshot("signals", everything))[0] == 1  # a new seq: read again
    assert len(state.calls) == 3
    mono.now += 1.5
    await hub.snapshot("signals", everything)  # too old to reuse
    assert len(state.calls) == 4


# --- pump ----------------------------------------------------------------------------------


class Stop(Exception):
    pass


def heartbeat() -> Item:
    return Item('{"type":"heartbeat"}', "heartbeat", None, 0)


async def test_pump_sends_items_and_heartbeats(world: World) -> None:
    session = world.session()
    sent: list[tuple[float, str]] = []
    started = time.monotonic()

    async def send(batch: list[Item]) -> None:
        for item in batch:
            sent.append((time.monotonic() - started, item.type))
        if sum(t == "heartbeat" for _at, t in sent) == 3:
            raise Stop

    async def late_item() -> None:
        await asyncio.sleep(0.15)
        session.put(Item('{"type":"late"}', "late", None, 0))

    session.put(Item('{"type":"first"}', "first", None, 0))
    other = asyncio.create_task(late_item())
    with pytest.raises(Stop):  # the transport's error ends the pump, and comes out of it
        await asyncio.wait_for(pump(session, send, heartbeat_s=0.1, heartbeat=heartbeat), 5.0)
    await other
    assert [t for _at, t in sent] == ["first", "heartbeat", "late", "heartbeat", "heartbeat"]
    beats = [at for at, t in sent if t == "heartbeat"]
    assert sent[0][0] < 0.05  # queued items go at once
    assert beats[0] >= 0.095 and beats[1] - beats[0] >= 0.095 and beats[2] - beats[1] >= 0.095
    assert beats[2] < 1.0
    late_at = next(at for at, t in sent if t == "late")
    assert late_at - 0.15 < 0.045  # not held back until the next heartbeat


async def test_pump_sends_what_is_ready_as_one_batch(world: World) -> None:
    session = world.session()
    batches: list[list[str]] = []

    async def send(batch: list[Item]) -> None:
        batches.append([item.type for item in batch])
        if len(batches) == 2:
            raise Stop

    for n in range(5):
        session.put(Item(f'{{"type":"e{n}"}}', f"e{n}", None, 0))

    async def later() -> None:
        await asyncio.sleep(0.05)
        session.put(Item('{"type":"late"}', "late", None, 0))

    other = asyncio.create_task(later())
    with pytest.raises(Stop):
        await asyncio.wait_for(pump(session, send, heartbeat_s=10.0, heartbeat=heartbeat), 2.0)
    await other
    assert batches == [["e0", "e1", "e2", "e3", "e4"], ["late"]]


async def test_pump_ends_with_overflow(world: World) -> None:
    session = world.session(queue_max=4, clock=FakeMonotonic())
    await overflow_once(world, session)
    await drain(session)
    for _ in range(5):
        await world.publish("analysis")
    sent: list[Item] = []

    async def send(batch: list[Item]) -> None:
        sent.extend(batch)

    with pytest.raises(Overflow):
        await asyncio.wait_for(pump(session, send, heartbeat_s=10.0, heartbeat=heartbeat), 2.0)
    assert sent == []
