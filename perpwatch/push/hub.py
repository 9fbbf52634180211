"""One API process's end of the push: a reader per channel, and the fan-out to sessions.

Each channel has one reader task that follows the bus (``XREAD BLOCK`` on Redis) and hands
every event to every session, which keeps what its scope asks for. So 1,000 clients cost
one Redis read per batch of events, and a frame is built once per event.

When the reader cannot read (Redis down) the sessions stay connected, with heartbeats.
When it reads again, or finds a gap in the sequence (events trimmed before it read them,
or a Redis that came back empty), every session of that channel gets a ``reset`` and a
fresh snapshot: what happened meanwhile may never have been published, and the cache is
the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from perpwatch.errors import CacheUnavailable
from perpwatch.push.bus import EventBus
from perpwatch.push.cuts import cut_for
from perpwatch.push.events import CHANNELS, Channel, Event, snapshot_frame
from perpwatch.push.session import Scope, Session
from perpwatch.push.status import PushStatus

logger = logging.getLogger(__name__)

READ_BLOCK_S = 1.0
RETRY_S = (0.2, 0.5, 1.0, 2.0)
SNAPSHOT_REUSE_S = 1.0
FIRST_POSITION_WAIT_S = 2.0  # a first snapshot waits at most this for the reader


class StateReader(Protocol):
    async def items(self, channel: Channel, scope: Scope) -> list[str]:
        """The current state of ``channel`` in ``scope``, as JSON texts."""


class Hub:
    def __init__(
        self,
        bus: EventBus,
        state: StateReader,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        on_analysis: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self._bus = bus
        # told of every (symbol, timeframe) with a new analysis (the near cache drops its copy)
        self._on_analysis = on_analysis
        self._state = state
        self._clock = clock
        self._monotonic = monotonic
        self.sessions: set[Session] = set()
        self.position: dict[Channel, int] = {}
        self.reading: dict[Channel, bool] = dict.fromkeys(CHANNELS, False)
        # set once a channel's reader holds its first position: a snapshot or replay taken
        # before that could end below it, and the events in between would reach nobody
        self._placed: dict[Channel, asyncio.Event] = {c: asyncio.Event() for c in CHANNELS}
        self.delivered = 0
        self.resyncs = 0
        self.resets_of_left = 0  # resets sent to sessions that have ended
        self.slow_closed = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._snapshots: dict[tuple[Channel, Scope], tuple[float, int, str]] = {}

    def join(self, session: Session) -> None:
        self.sessions.add(session)

    def leave(self, session: Session, *, slow: bool = False) -> None:
        if session in self.sessions:
            self.sessions.discard(session)
            self.resets_of_left += session.resets
            self.slow_closed += int(slow)

    def status(self) -> PushStatus:
        sessions = tuple(self.sessions)
        return PushStatus(
            connections=len(sessions),
            direct=sum(s.direct for s in sessions),
            queued=sum(s.queued for s in sessions),
            peak_queued=max((s.peak_queued for s in sessions), default=0),
            resets=self.resets_of_left + sum(s.resets for s in sessions),
            slow_closed=self.slow_closed,
            events_read=self.delivered,
            resyncs=self.resyncs,
            reading={c: self.reading[c] for c in CHANNELS},
            position={c: self.position.get(c) for c in CHANNELS},
        )

    def start(self) -> None:
        for channel in CHANNELS:
            self._tasks.append(asyncio.create_task(self._read(channel), name=f"push:{channel}"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # --- Source (for sessions) ------------------------------------------------------

    async def _placed_reader(self, channel: Channel) -> None:
        """Wait (bounded: Redis may be down) until the channel's reader holds a position."""
        if not self._placed[channel].is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._placed[channel].wait(), FIRST_POSITION_WAIT_S)

    async def snapshot(self, channel: Channel, scope: Scope) -> tuple[int, str]:
        await self._placed_reader(channel)
        key = (channel, scope)
        try:
            seq = await self._bus.last_seq(channel)
        except CacheUnavailable:
            seq = self.position.get(channel, 0)
        memo = self._snapshots.get(key)
        now = self._monotonic()
        if memo is not None and memo[1] == seq and now - memo[0] < SNAPSHOT_REUSE_S:
            return seq, memo[2]
        items = await self._state.items(channel, scope)
        frame = snapshot_frame(channel, seq, items, int(self._clock() * 1000))
        if len(self._snapshots) > 256:
            self._snapshots.clear()
        self._snapshots[key] = (now, seq, frame)
        return seq, frame

    async def replay(self, channel: Channel, since: int, *, limit: int) -> list[Event] | None:
        await self._placed_reader(channel)
        return await self._bus.after(channel, since, limit=limit)

    # --- reading --------------------------------------------------------------------

    async def _read(self, channel: Channel) -> None:
        failures = 0
        pos: int | None = None
        while not self._stopping:
            try:
                if pos is None or failures:
                    last = await self._bus.last_seq(channel)
                    if pos is None or last < pos:  # first read, or a Redis that lost them
                        if pos is not None:
                            self._resync(channel)
                        pos = last
                    elif failures:
                        self._resync(channel)  # unread while down: maybe never published
                    self.position[channel] = pos
                    self._placed[channel].set()
                    if failures:
                        logger.info("push: reading %s events again", channel)
                    failures = 0
                self.reading[channel] = True
                events = await self._bus.wait(channel, pos, timeout_s=READ_BLOCK_S)
            except CacheUnavailable as e:
                if not failures:
                    logger.warning("push: %s events unreadable (%s); retrying", channel, e)
                self.reading[channel] = False
                failures += 1
                await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S)) - 1])
                continue
            except Exception:  # the reader must survive surprises, or push stops for good
                logger.exception("push: reading %s events failed unexpectedly", channel)
                await asyncio.sleep(1.0)
                continue
            if not events:
                continue
            if events[0].seq != pos + 1:
                self._resync(channel)
            if self._on_analysis is not None and channel == "signals":
                for event in events:
                    if event.type == "analysis" and event.symbol is not None:
                        self._on_analysis(event.symbol, event.timeframe)
            self._deliver(channel, events, await self._cuts(channel, events))
            pos = events[-1].seq
            self.position[channel] = pos

    async def _cuts(
        self, channel: Channel, events: list[Event]
    ) -> dict[frozenset[str], list[Event]]:
        """A channel of whole tables (funding, arbitrage): its events cut to each distinct
        set of symbols that sessions subscribed to, in a thread (tables are large)."""
        cut = cut_for(channel)
        if cut is None:
            return {}
        wanted: set[frozenset[str]] = set()
        for session in self.sessions:
            scope = session.scopes.get(channel)
            if scope is not None and scope.symbols is not None:
                wanted.add(scope.symbols)
        if not wanted:
            return {}

        def build() -> dict[frozenset[str], list[Event]]:
            return {s: [replace(e, data=cut(e.data, s)) for e in events] for s in wanted}

        return await asyncio.to_thread(build)

    def _deliver(
        self, channel: Channel, events: list[Event], cuts: dict[frozenset[str], list[Event]]
    ) -> None:
        """Every event of a batch to every session (cut to its symbols where the channel's
        events are whole tables), each session's sender woken once."""
        for session in tuple(self.sessions):
            batch = events
            if cuts:
                scope = session.scopes.get(channel)
                if scope is not None and scope.symbols is not None:
                    batch = cuts.get(scope.symbols, events)
            for e in batch:
                session.offer(e, wake=False)
            session.wake()
        self.delivered += len(events)

    def _resync(self, channel: Channel) -> None:
        self.resyncs += 1
        for session in tuple(self.sessions):
            session.resync(channel)
