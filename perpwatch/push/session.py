"""One push client, whatever its transport: subscription, bounded queue, and order.

Per subscribed channel a session sends first a ``snapshot`` (or, resuming, the retained
events after the client's sequence number), then live events in sequence. Live events
that arrive while the snapshot is being read wait in a pending list and are passed on
after it, minus those the snapshot already covers: nothing is missed or repeated.

Frames are shared strings (built once per event), so a queued event costs a pointer.
At most ``queue_max`` wait per client. A client that falls that far behind gets one
``reset`` and fresh snapshots; one that overflows again within ``RESET_WINDOW_S`` is
closed (WebSocket code 1013, "try again later").
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from perpwatch.errors import CacheUnavailable
from perpwatch.push.events import Channel, Event, Item, control_frame
from perpwatch.push.subscription import Subscribe

RESET_WINDOW_S = 30.0


@dataclass(frozen=True, slots=True)
class Scope:
    symbols: frozenset[str] | None
    timeframes: frozenset[str] | None

    def matches(self, e: Event) -> bool:
        if e.symbol is not None and self.symbols is not None and e.symbol not in self.symbols:
            return False
        return not (
            e.timeframe is not None
            and self.timeframes is not None
            and e.timeframe not in self.timeframes
        )


class Source(Protocol):
    """What a session reads besides live events (the hub)."""

    async def snapshot(self, channel: Channel, scope: Scope) -> tuple[int, str]:
        """The channel's sequence number and a snapshot frame of its state at it."""

    async def replay(self, channel: Channel, since: int, *, limit: int) -> list[Event] | None:
        """The retained events after ``since`` (None: some are gone)."""


class Overflow(Exception):
    """The client cannot keep up even after a reset."""


class Session:
    def __init__(
        self,
        source: Source,
        *,
        queue_max: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._queue_max = queue_max
        self._clock = clock
        self.scopes: dict[Channel, Scope] = {}
        self.position: dict[Channel, int] = {}
        self._pending: dict[Channel, list[Event]] = {}
        self._queue: collections.deque[Item] = collections.deque()
        self._wakeup = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._reset_channels: set[Channel] = set()
        self._reset_sent = False
        self.last_reset_at: float | None = None
        self.doomed = False
        self.resets = 0
        self.peak_queued = 0
        self._interrupted = False
        self.direct = False  # its transport writes frames directly (a WebSocket's, shown)

    # --- fed by the hub (synchronous: no await between check and append) ---------------

    def offer(self, e: Event, *, wake: bool = True) -> None:
        """Take ``e`` if the subscription wants it; ``wake=False`` leaves waking the sender
        to :meth:`wake` (once for a batch of events)."""
        scope = self.scopes.get(e.channel)
        if scope is None or not scope.matches(e) or e.channel in self._reset_channels:
            return  # (a channel waiting for its reset: the snapshot after it covers this)
        pending = self._pending.get(e.channel)
        if pending is not None:
            if len(pending) >= self._queue_max:
                self._overflow()
            else:
                pending.append(e)
            return
        if e.seq <= self.position.get(e.channel, 0):
            return
        self.position[e.channel] = e.seq
        self.put(e.item, wake=wake)

    def put(self, item: Item, *, wake: bool = True) -> None:
        queue = self._queue
        if len(queue) >= self._queue_max:
            self._overflow()
            return
        queue.append(item)
        if len(queue) > self.peak_queued:
            self.peak_queued = len(queue)
        if wake:
            self._wakeup.set()

    def wake(self) -> None:
        if self._queue and not self._wakeup.is_set():
            self._wakeup.set()

    def resync(self, channel: Channel) -> None:
        """The hub lost events of ``channel`` (a Redis outage, a gap): reset, snapshot."""
        if channel in self.scopes:
            self._reset_channels.add(channel)
            self._wakeup.set()

    def _overflow(self) -> None:
        now = self._clock()
        if self.last_reset_at is not None and now - self.last_reset_at < RESET_WINDOW_S:
            self.doomed = True
        self._queue.clear()
        for pending in self._pending.values():
            pending.clear()
        self._reset_channels.update(self.scopes)
        self._reset_sent = False
        self._wakeup.set()

    # --- driven by the connection ---------------------------------------------------

    async def subscribe(self, msg: Subscribe) -> None:
        async with self._sync_lock:
            scope = Scope(msg.symbols, msg.timeframes)
            frame = control_frame(
                "subscribed",
                channels=list(msg.channels),
                symbols=None if msg.symbols is None else sorted(msg.symbols),
                timeframes=None if msg.timeframes is None else sorted(msg.timeframes),
                since=dict(msg.since) or None,
            )
            self.put(Item(frame, "subscribed", None, 0))
            for channel in msg.channels:
                self.scopes[channel] = scope
                await self._sync(channel, msg.since.get(channel))

    def unsubscribe(self, channels: tuple[Channel, ...]) -> None:
        for channel in channels:
            self.scopes.pop(channel, None)
            self.position.pop(channel, None)
            self._reset_channels.discard(channel)
        frame = control_frame(
            "unsubscribed", channels=list(channels), remaining=sorted(self.scopes)
        )
        self.put(Item(frame, "unsubscribed", None, 0))

    async def _sync(self, channel: Channel, since: int | None) -> None:
        """Snapshot (or replay after ``since``) of ``channel``, then its pending events."""
        self._pending[channel] = []
        try:
            scope = self.scopes[channel]
            replay: list[Event] | None = None
            if since is not None:
                try:
                    replay = await self._source.replay(channel, since, limit=self._queue_max)
                except CacheUnavailable:
                    replay = None
                if replay is not None and len(replay) >= self._queue_max:
                    replay = None  # too far behind to replay: a snapshot is smaller
            if replay is not None:
                position = since if since is not None else 0
                for e in replay:
                    position = max(position, e.seq)
                    if scope.matches(e):
                        self.put(e.item)
            else:
                position, frame = await self._source.snapshot(channel, scope)
                self.put(Item(frame, "snapshot", channel, position))
            self.position[channel] = position
        finally:
            pending = self._pending.pop(channel, [])
        if channel in self.scopes:
            for e in pending:
                self.offer(e)

    async def next_item(self, timeout_s: float | None) -> Item | None:
        """The next item to send: None after ``timeout_s`` without one, or (``timeout_s``
        None: no timer of its own) when :meth:`interrupt` is called. Raises
        :class:`Overflow` once the client is to be closed."""
        deadline = None if timeout_s is None else self._clock() + timeout_s
        while True:
            if self.doomed:
                raise Overflow
            if self._reset_channels:
                if not self._reset_sent:
                    self._reset_sent = True
                    self.resets += 1
                    self.last_reset_at = self._clock()
                    frame = control_frame("reset", channels=sorted(self._reset_channels))
                    return Item(frame, "reset", None, 0)
                async with self._sync_lock:
                    channels, self._reset_channels = self._reset_channels, set()
                    self._reset_sent = False
                    for channel in sorted(channels):
                        if channel in self.scopes:
                            await self._sync(channel, None)
                continue
            if self._interrupted:  # before the queue: a heartbeat goes out on time, busy or not
                self._interrupted = False
                return None
            if self._queue:
                return self._queue.popleft()
            self._wakeup.clear()
            if deadline is None:
                await self._wakeup.wait()
                continue
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return None

    def interrupt(self) -> None:
        """Make a waiting :meth:`next_item` return None (a heartbeat is due)."""
        self._interrupted = True
        self._wakeup.set()

    def pop_ready(self) -> Item | None:
        """The next queued item when nothing else (a reset, a close) comes first."""
        if self._queue and not (self.doomed or self._reset_channels or self._interrupted):
            return self._queue.popleft()
        return None

    @property
    def queued(self) -> int:
        return len(self._queue)


async def outgoing(
    session: Session, *, heartbeat_s: float, heartbeat: Callable[[], Item]
) -> AsyncGenerator[list[Item], None]:
    """The session's items to send, in order and in batches (all that are ready at once),
    with a heartbeat every ``heartbeat_s``, for any transport; ends with
    :class:`Overflow` once the client is to be closed.

    A batch lets a transport write many frames with one system call. One timer per
    connection (``call_later``) marks heartbeats due, so waiting for items creates no
    timeout of its own: with a thousand clients, every event wakes a thousand senders,
    and each wake must cost as little as it can."""
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle] = []

    def beat() -> None:
        session.interrupt()
        timer[:] = [loop.call_later(heartbeat_s, beat)]

    timer.append(loop.call_later(heartbeat_s, beat))
    try:
        while True:
            item = await session.next_item(None)
            if item is None:  # only the timer interrupts: a heartbeat is due
                yield [heartbeat()]
                continue
            batch = [item]
            while (item := session.pop_ready()) is not None:  # the rest, without waiting
                batch.append(item)
            yield batch
    finally:
        for t in timer:
            t.cancel()


async def pump(
    session: Session,
    send: Callable[[list[Item]], Awaitable[None]],
    *,
    heartbeat_s: float,
    heartbeat: Callable[[], Item],
) -> None:
    """Send :func:`outgoing` batches until the transport fails (its error propagates) or
    the client is to be closed (:class:`Overflow`)."""
    items = outgoing(session, heartbeat_s=heartbeat_s, heartbeat=heartbeat)
    try:
        async for batch in items:
            await send(batch)
    finally:
        await items.aclose()
