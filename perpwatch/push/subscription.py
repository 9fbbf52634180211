"""What a client asks for, parsed and checked: pure functions, no I/O.

A WebSocket client sends JSON messages::

    {"type": "subscribe", "channels": ["signals"], "symbols": ["BTCUSDT"],
     "timeframes": ["15m"], "since": 41}
    {"type": "unsubscribe", "channels": ["funding"]}     (no channels: everything)
    {"type": "ping"}

``symbols`` and ``timeframes`` left out mean all. ``since`` is a sequence number (for
every channel of the message) or an object of them per channel. An SSE client gives the
same as query parameters. Anything else is a :class:`BadMessage` whose text goes back to
the client; the connection and its subscription stay as they were.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from perpwatch.errors import InvalidInput
from perpwatch.push.events import CHANNELS, Channel
from perpwatch.symbols import normalize_symbol

MAX_MESSAGE_BYTES = 65_536
MAX_SYMBOLS = 5000
_SUBSCRIBE_FIELDS = frozenset({"type", "channels", "symbols", "timeframes", "since"})


class BadMessage(ValueError):
    """A client message that cannot be applied; the text says why."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    channels: tuple[Channel, ...]
    symbols: frozenset[str] | None  # None: all
    timeframes: frozenset[str] | None  # None: all
    since: Mapping[Channel, int]  # where to resume, per channel (absent: snapshot)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    channels: tuple[Channel, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    pass


Message = Subscribe | Unsubscribe | Ping


def parse_message(raw: str | bytes, *, timeframes: Collection[str]) -> Message:
    """One WebSocket message from a client (symbols checked for form only here)."""
    if len(raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")) > (
        MAX_MESSAGE_BYTES
    ):
        raise BadMessage(f"message too large (over {MAX_MESSAGE_BYTES} bytes)")
    try:
        msg: Any = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadMessage("not valid JSON") from None
    if not isinstance(msg, dict):
        raise BadMessage("a message is a JSON object with a 'type'")
    kind = msg.get("type")
    if kind == "ping":
        extra = set(msg) - {"type"}
        if extra:
            raise BadMessage(f"unknown field(s) for ping: {_names(extra)}")
        return Ping()
    if kind == "unsubscribe":
        extra = set(msg) - {"type", "channels"}
        if extra:
            raise BadMessage(f"unknown field(s) for unsubscribe: {_names(extra)}")
        raw_channels = msg.get("channels")
        return Unsubscribe(CHANNELS if raw_channels is None else parse_channels(raw_channels))
    if kind == "subscribe":
        extra = set(msg) - _SUBSCRIBE_FIELDS
        if extra:
            raise BadMessage(f"unknown field(s) for subscribe: {_names(extra)}")
        if "channels" not in msg:
            raise BadMessage("subscribe needs 'channels': any of " + ", ".join(CHANNELS))
        channels = parse_channels(msg["channels"])
        return Subscribe(
            channels=channels,
            symbols=parse_symbols(msg.get("symbols")),
            timeframes=parse_timeframes(msg.get("timeframes"), timeframes),
            since=parse_since(msg.get("since"), channels),
        )
    raise BadMessage("'type' must be subscribe, unsubscribe or ping")


def parse_channels(raw: object) -> tuple[Channel, ...]:
    items = _string_list(raw, "channels")
    if not items:
        raise BadMessage("'channels' is empty; any of " + ", ".join(CHANNELS))
    unknown = [c for c in items if c not in CHANNELS]
    if unknown:
        raise BadMessage(
            f"unknown channel(s): {', '.join(c[:40] for c in unknown[:10])}; any of "
            + ", ".join(CHANNELS)
        )
    return tuple(cast(Channel, c) for c in dict.fromkeys(items))


def parse_symbols(raw: object) -> frozenset[str] | None:
    if raw is None:
        return None
    items = _string_list(raw, "symbols")
    if len(items) > MAX_SYMBOLS:
        raise BadMessage(f"at most {MAX_SYMBOLS} symbols")
    out: set[str] = set()
    bad: list[str] = []
    for s in items:
        try:
            out.add(normalize_symbol(s))
        except InvalidInput:
            bad.append(s[:40])
    if bad:
        raise BadMessage(f"invalid symbol(s): {', '.join(bad[:10])}")
    return frozenset(out)


def parse_timeframes(raw: object, configured: Collection[str]) -> frozenset[str] | None:
    if raw is None:
        return None
    items = _string_list(raw, "timeframes")
    unknown = [t for t in items if t not in configured]
    if unknown:
        raise BadMessage(
            f"timeframe(s) not configured: {', '.join(t[:10] for t in unknown[:10])}; "
            f"configured: {', '.join(configured)}"
        )
    return frozenset(items)


def parse_since(raw: object, channels: tuple[Channel, ...]) -> dict[Channel, int]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        out: dict[Channel, int] = {}
        for k, v in raw.items():
            if k not in channels:
                raise BadMessage(f"'since' names {str(k)[:20]!r}, not a subscribed channel")
            out[cast(Channel, k)] = _seq(v)
        return out
    seq = _seq(raw)
    return dict.fromkeys(channels, seq)


def parse_last_event_id(raw: str, channels: tuple[Channel, ...]) -> dict[Channel, int]:
    """An SSE ``Last-Event-ID``: ``signals:41`` (one channel's stream) or
    ``signals:41,funding:7`` (the position of every channel of a stream)."""
    out: dict[Channel, int] = {}
    for part in raw.split(","):
        name, sep, num = part.strip().partition(":")
        if not sep or name not in channels or not (num.isascii() and num.isdigit()):
            raise BadMessage("Last-Event-ID must look like signals:41[,funding:7]")
        if len(num) > 18:
            raise BadMessage("Last-Event-ID must look like signals:41[,funding:7]")
        out[name] = int(num)
    return out


def _names(names: set[str]) -> str:
    """Client-given names for an error message, shortened (never the client's whole input)."""
    return ", ".join(n[:40] for n in sorted(names)[:10])


def _seq(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < 2**62:
        raise BadMessage("'since' must be a sequence number (an integer >= 0)")
    return raw


def _string_list(raw: object, name: str) -> list[str]:
    if isinstance(raw, str):
        raw = [p for p in (x.strip() for x in raw.split(",")) if p]
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise BadMessage(f"'{name}' must be a list of strings")
    return cast(list[str], raw)
