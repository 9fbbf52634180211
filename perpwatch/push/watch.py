"""The client end of the push: follow a running perpwatch's ``/ws`` (``perpwatch watch``).

* :class:`WatchState` -- pure: folds the server's messages into one row per symbol and
  timeframe, the latest signal changes, the funding tables and the arbitrage view, and
  keeps the last sequence number of each channel (where to resume).
* :func:`watch` -- the connection loop: connect, subscribe (with ``since`` once it has
  positions), yield what arrives; on any disconnect, reconnect with exponential backoff
  and resume, so nothing is missed or repeated. A refused handshake (HTTP 4xx but 429)
  and a refused subscription are :class:`WatchRefused`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import sys
import time
from collections.abc import AsyncGenerator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import ValidationError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from perpwatch.analysis.models import SignalChange
from perpwatch.errors import ConfigError, PerpwatchError
from perpwatch.push.events import CHANNELS, Channel

CHANGES_KEPT = 50
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a snapshot of every symbol's analysis is megabytes

Outcome = Literal["state", "duplicate", "control"]
"""What a message did to the state: changed it (a snapshot, an event, a reset), nothing
because it was seen already (a repeated event), or nothing because it is a control message."""


class WatchRefused(PerpwatchError):
    """The server refused the connection or the subscription; retrying will not help."""


# --- the state ---------------------------------------------------------------------------


@dataclass(slots=True)
class SignalRow:
    """One symbol and timeframe, from its latest analysis document."""

    symbol: str
    timeframe: str
    recommendation: str
    confidence: float
    trend: str
    deviation_pct: float
    bars_since_cross: int | None
    rsi: float | None
    price: float | None
    timestamp_ms: int
    received_at: float  # by this client's clock (seconds)

    @classmethod
    def of(cls, doc: Mapping[str, Any], received_at: float) -> SignalRow | None:
        """The row of an analysis document (None if the document lacks what a row shows)."""
        try:
            h = doc["hama_analysis"]
            s = h["signals"]
            ti = h.get("technical_indicators") or {}
            return cls(
                symbol=str(doc["symbol"]),
                timeframe=str(doc["timeframe"]),
                recommendation=str(h["recommendation"]),
                confidence=float(h["confidence"]),
                trend=str(h["trend"]),
                deviation_pct=float(s["deviation_pct"]),
                bars_since_cross=_int_or_none(s.get("bars_since_cross")),
                rsi=_float_or_none(ti.get("rsi")),
                price=_float_or_none(s.get("realtime_price")),
                timestamp_ms=int(doc["timestamp_ms"]),
                received_at=received_at,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def age_s(self, now: float) -> float:
        """How old the analysis is (by its ``timestamp_ms``) at ``now`` (seconds)."""
        return max(0.0, now - self.timestamp_ms / 1000)


class Change(SignalChange):
    """A ``signal_change`` event as received: the event's data (its one model), with the
    event's ``seq`` and when it arrived (by this client's clock)."""

    seq: int
    received_at: float

    @classmethod
    def of(cls, data: Mapping[str, Any], seq: int, received_at: float) -> Change | None:
        try:
            return cls.model_validate({**data, "seq": seq, "received_at": received_at})
        except ValidationError:
            return None


RowKey = tuple[str, str]  # (symbol, timeframe)


@dataclass
class WatchState:
    """What the server has said so far, folded. No I/O: :meth:`apply` one message at a time.

    ``symbols`` (when named) cut the funding and arbitrage events to them: the server cuts
    those channels' snapshots to the subscription, but sends their live events whole.
    """

    symbols: frozenset[str] | None = None
    clock: Callable[[], float] = time.time
    keep_changes: int = CHANGES_KEPT
    positions: dict[Channel, int] = field(default_factory=dict)
    rows: dict[RowKey, SignalRow] = field(default_factory=dict)
    changes: collections.deque[Change] = field(init=False)
    changed_at: dict[RowKey, float] = field(default_factory=dict)
    funding: dict[str, dict[str, Any]] = field(default_factory=dict)  # exchange -> table
    arbitrage: dict[str, Any] | None = None
    events: int = 0  # live events applied
    snapshots: int = 0
    resets: int = 0
    duplicates: int = 0

    def __post_init__(self) -> None:
        self.changes = collections.deque(maxlen=self.keep_changes)

    def since(self, channels: Collection[Channel]) -> dict[Channel, int]:
        """Where to resume each of ``channels`` (those without a position get a snapshot)."""
        return {c: self.positions[c] for c in channels if c in self.positions}

    def apply(self, msg: Mapping[str, Any]) -> Outcome:
        kind = msg.get("type")
        if kind == "reset":
            for dropped in _channels(msg.get("channels")):
                self._drop(dropped)
            self.resets += 1
            return "state"
        name = msg.get("channel")
        seq = msg.get("seq")
        if name not in CHANNELS or isinstance(seq, bool) or not isinstance(seq, int):
            return "control"  # subscribed, heartbeat, error, pong, ...
        channel = cast(Channel, name)
        now = self.clock()
        if kind == "snapshot":
            self._drop(channel)
            self.positions[channel] = seq
            self.snapshots += 1
            for item in msg.get("data") or ():
                if isinstance(item, dict):
                    self._fold(channel, "snapshot", item, seq, now)
            return "state"
        if seq <= self.positions.get(channel, -1):
            self.duplicates += 1
            return "duplicate"
        self.positions[channel] = seq
        self.events += 1
        data = msg.get("data")
        if isinstance(data, dict) and isinstance(kind, str):
            self._fold(channel, kind, data, seq, now)
        return "state"

    def _drop(self, channel: Channel) -> None:
        self.positions.pop(channel, None)
        if channel == "signals":
            self.rows.clear()
        elif channel == "funding":
            self.funding.clear()
        else:
            self.arbitrage = None

    def _fold(
        self, channel: Channel, kind: str, data: dict[str, Any], seq: int, now: float
    ) -> None:
        if channel == "signals":
            if kind == "signal_change":
                change = Change.of(data, seq, now)
                if change is not None:
                    self.changes.append(change)
                    self.changed_at[(change.symbol, change.timeframe)] = now
                return
            row = SignalRow.of(data, now)
            if row is not None:
                self.rows[(row.symbol, row.timeframe)] = row
        elif channel == "funding":
            exchange = data.get("exchange")
            if isinstance(exchange, str):
                self.funding[exchange] = self._cut_table(data)
        else:
            self.arbitrage = self._cut_arbitrage(data)

    def _cut_table(self, table: dict[str, Any]) -> dict[str, Any]:
        rows = table.get("rows")
        if self.symbols is None or not isinstance(rows, dict):
            return table
        return {**table, "rows": {s: r for s, r in rows.items() if s in self.symbols}}

    def _cut_arbitrage(self, view: dict[str, Any]) -> dict[str, Any]:
        ops = view.get("opportunities")
        if self.symbols is None or not isinstance(ops, list):
            return view
        kept = [o for o in ops if isinstance(o, dict) and o.get("symbol") in self.symbols]
        return {**view, "opportunities": kept, "count": len(kept)}


def _channels(raw: object) -> list[Channel]:
    if not isinstance(raw, list):
        return []
    return [cast(Channel, c) for c in raw if c in CHANNELS]


def _int_or_none(v: object) -> int | None:
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _float_or_none(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def subscribe_message(
    channels: Sequence[Channel],
    *,
    symbols: Collection[str] | None = None,
    timeframes: Collection[str] | None = None,
    since: Mapping[Channel, int] | None = None,
) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "subscribe", "channels": list(channels)}
    if symbols is not None:
        msg["symbols"] = sorted(symbols)
    if timeframes is not None:
        msg["timeframes"] = sorted(timeframes)
    if since:
        msg["since"] = dict(since)
    return msg


# --- the connection ----------------------------------------------------------------------


def ws_url(base: str, token: str | None = None) -> str:
    """The ``/ws`` URL of a perpwatch at ``base`` (``http(s)://`` or ``ws(s)://``; a path
    ending in ``/ws`` is kept), with ``?token=`` when given."""
    parts = urlsplit(base.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise ConfigError(f"invalid --url {base!r}: give http(s)://HOST:PORT")
    path = parts.path.rstrip("/")
    if not path.endswith("/ws"):
        path += "/ws"
    query = urlencode({"token": token}) if token else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass
class Backoff:
    """Delays between attempts: ``first`` doubling up to ``cap``; :meth:`reset` on success."""

    first: float = 0.5
    cap: float = 10.0
    _next: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first


@dataclass(frozen=True, slots=True)
class Received:
    """A server message, decoded (``msg``) and as it came (``raw``)."""

    msg: dict[str, Any]
    raw: str
    outcome: Outcome

    @property
    def type(self) -> str:
        return str(self.msg.get("type"))


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _positions(since: Mapping[Channel, int]) -> str:
    if not since:
        return "from a snapshot"
    return "after " + ", ".join(f"{c} #{s}" for c, s in since.items())


def _close_reason(e: ConnectionClosed) -> str:
    frame = e.rcvd or e.sent
    if frame is None:
        return "connection lost"
    text = f"closed with code {frame.code}"
    if frame.code == 1013:
        text += " (too slow)"
    return text + (f": {frame.reason}" if frame.reason else "")


def _status_reason(e: InvalidStatus) -> str:
    body = e.response.body or b""
    detail = ""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        detail = str(json.loads(body)["msg"])
    if not detail:
        detail = body.decode("utf-8", "replace").strip()[:200]
    return f"HTTP {e.response.status_code}" + (f" ({detail})" if detail else "")


async def watch(
    url: str,
    state: WatchState,
    *,
    channels: Sequence[Channel] = ("signals",),
    symbols: Collection[str] | None = None,
    timeframes: Collection[str] | None = None,
    token: str | None = None,
    notice: Callable[[str], None] = _stderr,
    backoff: Backoff | None = None,
    open_timeout_s: float = 10.0,
) -> AsyncGenerator[Received, None]:
    """Yield every message of ``/ws`` of the perpwatch at ``url``, applied to ``state``
    first (repeated events are applied to nothing and not yielded), forever.

    Each disconnect, each failed attempt and each reconnect is one ``notice`` line.
    Raises :class:`WatchRefused` for a handshake refused with a 4xx other than 429, and
    for an ``error`` in answer to the subscribe.
    """
    uri = ws_url(url, token)
    where = _without_query(uri)
    delays = backoff or Backoff()
    connected_once = False
    while True:
        since = state.since(channels)
        live = False  # this attempt's subscription was answered
        try:
            async with connect(uri, open_timeout=open_timeout_s, max_size=MAX_MESSAGE_BYTES) as ws:
                request = subscribe_message(
                    channels, symbols=symbols, timeframes=timeframes, since=since
                )
                await ws.send(json.dumps(request, separators=(",", ":")))
                async for frame in ws:
                    raw = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        notice(f"perpwatch watch: not JSON from the server: {raw[:80]!r}")
                        continue
                    if not isinstance(msg, dict):
                        continue
                    kind = msg.get("type")
                    if kind == "error":
                        if not live:  # the answer to the subscribe: it would be the same again
                            raise WatchRefused(f"subscription refused: {msg.get('msg')}")
                        notice(f"perpwatch watch: error from the server: {msg.get('msg')}")
                    elif kind == "subscribed" and not live:
                        if connected_once:
                            resuming = _positions(since)
                            notice(f"perpwatch watch: reconnected to {where}, resuming {resuming}")
                        live = connected_once = True
                        delays.reset()
                    outcome = state.apply(msg)
                    if outcome != "duplicate":
                        yield Received(msg, raw, outcome)
            reason = "closed by the server"
            if ws.close_code is not None:
                reason = f"closed with code {ws.close_code}"
        except InvalidStatus as e:
            status = e.response.status_code
            if 400 <= status < 500 and status != 429:
                raise WatchRefused(f"{where} refused the connection: {_status_reason(e)}") from None
            reason = _status_reason(e)
        except ConnectionClosed as e:
            reason = _close_reason(e)
        except (OSError, TimeoutError, InvalidHandshake) as e:
            reason = str(e) or type(e).__name__
        delay = delays.next()
        what = "disconnected from" if live else "cannot connect to"
        again = "reconnecting" if live else "retrying"
        notice(f"perpwatch watch: {what} {where} ({reason}); {again} in {delay:g}s")
        await asyncio.sleep(delay)
