"""Push events and the frames clients receive. Event data is JSON text, joined into the
frame as it is: a frame is built once per event and shared by every client it goes to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, get_args

Channel = Literal["signals", "funding", "arbitrage"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
EventType = Literal["analysis", "signal_change", "funding", "arbitrage"]
CHANNEL_OF: dict[EventType, Channel] = {
    "analysis": "signals",
    "signal_change": "signals",
    "funding": "funding",
    "arbitrage": "arbitrage",
}


@dataclass(frozen=True, slots=True)
class Event:
    """One published event. ``symbol`` / ``timeframe`` scope signal events (None on the
    other channels); ``data`` is JSON text; ``ts_ms`` is when it was published."""

    channel: Channel
    seq: int
    type: EventType
    symbol: str | None
    timeframe: str | None
    ts_ms: int
    data: str
    frame: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame", event_frame(self))


def event_frame(e: Event) -> str:
    return (
        f'{{"type":"{e.type}","channel":"{e.channel}","seq":{e.seq},"ts":{e.ts_ms},'
        f'"data":{e.data}}}'
    )


def snapshot_frame(channel: Channel, seq: int, items_json: list[str], ts_ms: int) -> str:
    """The current state of a channel: ``items_json`` are JSON texts, joined as a list."""
    return (
        f'{{"type":"snapshot","channel":"{channel}","seq":{seq},"ts":{ts_ms},'
        f'"data":[{",".join(items_json)}]}}'
    )


def control_frame(type_: str, **fields: object) -> str:
    """A small control message (subscribed, error, heartbeat, reset, pong)."""
    return json.dumps({"type": type_, **fields}, separators=(",", ":"))
