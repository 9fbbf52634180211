"""Where events live: the protocol, and the in-process bus of memory-only mode.

Sequence numbers are per channel, start at 1 and grow by one per event, across every
process that publishes to the same bus. ``after(channel, seq)`` answers exactly the
events after ``seq``, or ``None`` when some of them are no longer retained (the caller
then sends a snapshot instead).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from typing import Protocol

from perpwatch.push.events import CHANNEL_OF, CHANNELS, Channel, Event, EventType


class EventBus(Protocol):
    async def publish(
        self,
        type_: EventType,
        data: str,
        *,
        symbol: str | None = None,
        timeframe: str | None = None,
    ) -> Event: ...

    async def last_seq(self, channel: Channel) -> int: ...

    async def after(self, channel: Channel, seq: int, *, limit: int) -> list[Event] | None:
        """The retained events after ``seq`` (at most ``limit``); None if some are gone."""

    async def wait(self, channel: Channel, seq: int, *, timeout_s: float) -> list[Event]:
        """Events after ``seq``, waiting up to ``timeout_s`` for the first one."""

    async def close(self) -> None: ...


class MemoryBus:
    """Events in this process only (memory-only mode), capped by count and age."""

    def __init__(
        self,
        *,
        max_events: int,
        retention_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max = max_events
        self._retention_ms = int(retention_s * 1000)
        self._clock = clock
        self._events: dict[Channel, collections.deque[Event]] = {
            c: collections.deque() for c in CHANNELS
        }
        self._seq: dict[Channel, int] = dict.fromkeys(CHANNELS, 0)
        self._changed: dict[Channel, asyncio.Condition] = {}

    def _condition(self, channel: Channel) -> asyncio.Condition:
        cond = self._changed.get(channel)
        if cond is None:
            cond = self._changed[channel] = asyncio.Condition()
        return cond

    async def publish(
        self,
        type_: EventType,
        data: str,
        *,
        symbol: str | None = None,
        timeframe: str | None = None,
    ) -> Event:
        channel = CHANNEL_OF[type_]
        self._seq[channel] += 1
        now_ms = int(self._clock() * 1000)
        event = Event(channel, self._seq[channel], type_, symbol, timeframe, now_ms, data)
        events = self._events[channel]
        events.append(event)
        while len(events) > self._max or (events and events[0].ts_ms < now_ms - self._retention_ms):
            events.popleft()
        cond = self._condition(channel)
        async with cond:
            cond.notify_all()
        return event

    async def last_seq(self, channel: Channel) -> int:
        return self._seq[channel]

    async def after(self, channel: Channel, seq: int, *, limit: int) -> list[Event] | None:
        events = self._events[channel]
        last = self._seq[channel]
        if seq == last:
            return []
        if seq > last:  # ahead of the bus (it restarted empty): only a snapshot is right
            return None
        if not events or events[0].seq > seq + 1:
            return None
        start = seq + 1 - events[0].seq
        return [events[i] for i in range(start, min(len(events), start + limit))]

    async def wait(self, channel: Channel, seq: int, *, timeout_s: float) -> list[Event]:
        cond = self._condition(channel)
        if self._seq[channel] <= seq:
            async with cond:
                try:
                    async with asyncio.timeout(timeout_s):
                        await cond.wait_for(lambda: self._seq[channel] > seq)
                except TimeoutError:
                    return []
        found = await self.after(channel, seq, limit=1000)
        if found is None:  # fell out of retention meanwhile: the oldest retained
            return list(self._events[channel])[:1000]
        return found

    async def close(self) -> None:
        return None
