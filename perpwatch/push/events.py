"""Push events and the frames clients receive. Event data is JSON text, joined into the
frame as it is: a frame is built once per event and shared by every client it goes to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

from perpwatch.push.wire import text_frame

Channel = Literal["signals", "funding", "arbitrage"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
EventType = Literal["analysis", "signal_change", "funding", "arbitrage"]
CHANNEL_OF: dict[EventType, Channel] = {
    "analysis": "signals",
    "signal_change": "signals",
    "funding": "funding",
    "arbitrage": "arbitrage",
}


class Item(NamedTuple):
    """A frame to send, with what an SSE stream needs to know of it."""

    frame: str
    type: str
    channel: Channel | None  # None: a control message
    seq: int
    message: dict[str, str] | None = None  # its ASGI message, when shared (an event's)
    wire: bytes | None = None  # its WebSocket frame, when shared (an event's)

    def asgi(self) -> dict[str, str]:
        """The ASGI message that sends this frame over a WebSocket."""
        return self.message or {"type": "websocket.send", "text": self.frame}

    def ws_frame(self) -> bytes:
        """This frame as the bytes of a WebSocket text frame."""
        return self.wire or text_frame(self.frame.encode())


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
    # what a session queues to send it: one item (and one ASGI message) for every client
    item: Item = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        frame = event_frame(self)
        object.__setattr__(self, "frame", frame)
        message = {"type": "websocket.send", "text": frame}
        wire = text_frame(frame.encode())
        item = Item(frame, self.type, self.channel, self.seq, message, wire)
        object.__setattr__(self, "item", item)


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
