"""Everything one process has of the push, opened and closed by the runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from perpwatch.push.bus import EventBus
from perpwatch.push.gate import Gate
from perpwatch.push.hub import Hub
from perpwatch.push.publisher import Publisher


@dataclass(slots=True)
class Push:
    bus: EventBus
    publisher: Publisher
    gate: Gate
    timeframes: list[str]
    heartbeat_s: float
    client_queue: int
    # the symbols a client may name (None: not known yet, any well-formed one is taken)
    known_symbols: Callable[[], Awaitable[set[str] | None]]
    hub: Hub | None = None  # an API process's (serve role)
