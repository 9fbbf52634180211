"""Live push: ``GET /ws`` (WebSocket) and ``GET /api/stream`` (Server-Sent Events).

The protocol is in :mod:`perpwatch.push` and the README. These handlers only carry it:
they admit a connection (key, limits), parse what the client sends, and write what the
session gives them. Nothing a client sends ends the connection except closing it: a bad
message gets an ``error`` message back and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, cast

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from perpwatch.api.envelope import error
from perpwatch.api.openapi import AUTH_CONDITIONAL
from perpwatch.api.responses import errors
from perpwatch.api.ws_frames import batch_sender
from perpwatch.push.events import Channel, Item, control_frame
from perpwatch.push.gate import Credential, Refusal, credential
from perpwatch.push.service import Push
from perpwatch.push.session import Overflow, Session, outgoing, pump
from perpwatch.push.subscription import (
    BadMessage,
    Ping,
    Subscribe,
    Unsubscribe,
    parse_channels,
    parse_last_event_id,
    parse_message,
    parse_symbols,
    parse_timeframes,
)
from perpwatch.runtime import Runtime

logger = logging.getLogger(__name__)
router = APIRouter(tags=["push"])

MESSAGES_PER_S = 20.0
MESSAGE_BURST = 40.0


def _push(conn: HTTPConnection) -> Push:
    """The push of a request routed by the framework (SSE)."""
    push = cast(Runtime, conn.app.state.runtime).push
    if push is None or push.hub is None:  # pragma: no cover - every serve runtime has one
        raise RuntimeError("push is not open in this process")
    return push


def _admission(
    conn: HTTPConnection, push: Push, key_digest: bytes | None
) -> tuple[str, Credential, Refusal | None]:
    cred = credential(key_digest, conn.query_params.get("token"), conn.headers.get("authorization"))
    ip = conn.client.host if conn.client is not None else "unknown"
    return ip, cred, push.gate.admit(ip, cred)


async def check_symbols(push: Push, symbols: frozenset[str] | None) -> None:
    if symbols is None:
        return
    known = await push.known_symbols()
    if known is None:
        return
    unknown = sorted(symbols - known)
    if unknown:
        more = f" (and {len(unknown) - 10} more)" if len(unknown) > 10 else ""
        raise BadMessage(f"unknown symbol(s): {', '.join(unknown[:10])}{more}")


def _heartbeat() -> Item:
    return Item(control_frame("heartbeat", ts=int(time.time() * 1000)), "heartbeat", None, 0)


def _error_item(msg: str) -> Item:
    return Item(control_frame("error", msg=msg), "error", None, 0)


# --- WebSocket ---------------------------------------------------------------------------


class PushSocket:
    """``GET /ws`` as a pure ASGI app, in front of the framework (the app's ``front``): the
    fan-out sends each event's one shared ASGI message straight to the server, without
    Starlette's per-message wrappers (they cost as much as the send, times every client)."""

    def __init__(self, app: ASGIApp, *, runtime: Callable[[], Runtime], key_digest: bytes | None):
        self.app = app
        self.runtime = runtime
        self.key_digest = key_digest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope["path"] != "/ws":
            await self.app(scope, receive, send)
            return
        await websocket_push(WebSocket(scope, receive, send), send, self.runtime(), self.key_digest)


async def websocket_push(
    ws: WebSocket, raw_send: Send, runtime: Runtime, key_digest: bytes | None
) -> None:
    push = runtime.push
    if push is None or push.hub is None:  # pragma: no cover - every serve runtime has one
        await ws.close(code=1011)
        return
    hub = push.hub
    ip, cred, refusal = _admission(ws, push, key_digest)
    if refusal is not None:
        await _refuse(ws, refusal)
        return
    session = Session(hub, queue_max=push.client_queue)
    slow = False
    try:
        await ws.accept()
        hub.join(session)

        send, session.direct = batch_sender(raw_send)
        sender = asyncio.create_task(
            pump(session, send, heartbeat_s=push.heartbeat_s, heartbeat=_heartbeat),
            name="push:ws-send",
        )
        receiver = asyncio.create_task(_receive(ws, session, push), name="push:ws-receive")
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sender, receiver):
            task.cancel()
        results = await asyncio.gather(sender, receiver, return_exceptions=True)
        if isinstance(results[0], Overflow):
            slow = True
            with contextlib.suppress(Exception):
                await ws.close(code=1013, reason="client too slow; reconnect and resume")
    finally:
        hub.leave(session, slow=slow)
        push.gate.leave(ip, cred)
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()


async def _refuse(ws: WebSocket, refusal: Refusal) -> None:
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error(refusal.status, refusal.reason))
    else:
        await ws.close(code=1008 if refusal.status == 401 else 1013, reason=refusal.reason)


async def _receive(ws: WebSocket, session: Session, push: Push) -> None:
    """Apply the client's messages until it goes away."""
    tokens, last = MESSAGE_BURST, time.monotonic()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        now = time.monotonic()
        tokens = min(MESSAGE_BURST, tokens + (now - last) * MESSAGES_PER_S)
        last = now
        if tokens < 1:
            session.put(_error_item("too many messages; at most 20 a second"))
            continue
        tokens -= 1
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            msg = parse_message(raw, timeframes=push.timeframes)
            if isinstance(msg, Subscribe):
                await check_symbols(push, msg.symbols)
                await session.subscribe(msg)
            elif isinstance(msg, Unsubscribe):
                session.unsubscribe(msg.channels)
            elif isinstance(msg, Ping):
                item = control_frame("pong", ts=int(time.time() * 1000))
                session.put(Item(item, "pong", None, 0))
        except BadMessage as e:
            session.put(_error_item(str(e)))
        except WebSocketDisconnect:
            return


# --- Server-Sent Events ---------------------------------------------------------------------


@router.get(
    "/api/stream",
    summary="Live events as Server-Sent Events",
    description=(
        "`text/event-stream` of the push channels (`signals`, `funding`, `arbitrage`). "
        "Each event has `id: <channel>:<seq>` (every channel's position, comma-separated, "
        "when several are streamed), `event: <type>` and `data: <json>` (the same frames "
        "as `/ws`). A comment line is sent every `PUSH_HEARTBEAT_SECONDS`. `Last-Event-ID` "
        "(or `last_event_id`) resumes exactly after it; if it is too old, a `snapshot` "
        "comes first. Without it, each channel starts with a `snapshot`."
    ),
    response_class=StreamingResponse,
    openapi_extra=AUTH_CONDITIONAL,
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}}, **errors(400, 401, 429, 503)},
)
async def sse_push(
    request: Request,
    channels: Annotated[str, Query(max_length=100)] = "signals",
    symbols: Annotated[str | None, Query(max_length=8000)] = None,
    timeframes: Annotated[str | None, Query(max_length=200)] = None,
    last_event_id_q: Annotated[str | None, Query(alias="last_event_id", max_length=400)] = None,
    last_event_id: Annotated[str | None, Header(max_length=400)] = None,
) -> StreamingResponse | JSONResponse:
    push = _push(request)
    hub = push.hub
    assert hub is not None
    try:
        chans = parse_channels(channels)
        syms = parse_symbols(symbols)
        tfs = parse_timeframes(timeframes, push.timeframes)
        resume = last_event_id or last_event_id_q
        since = parse_last_event_id(resume, chans) if resume else {}
        await check_symbols(push, syms)
    except BadMessage as e:
        return error(400, str(e))
    ip, cred, refusal = _admission(request, push, request.app.state.security.key_digest)
    if refusal is not None:
        headers = {"Retry-After": "5"} if refusal.status in (429, 503) else None
        return error(refusal.status, refusal.reason, headers=headers)
    session = Session(hub, queue_max=push.client_queue)
    hub.join(session)
    left = False

    def leave() -> None:  # once, whether or not the stream ever started
        nonlocal left
        if not left:
            left = True
            hub.leave(session, slow=session.doomed)
            push.gate.leave(ip, cred)

    subscription = Subscribe(chans, syms, tfs, since)
    return EventStream(_sse(session, subscription, push), leave)


class EventStream(StreamingResponse):
    """A streaming response that runs ``cleanup`` when it ends, however it ends."""

    def __init__(self, content: AsyncIterator[str], cleanup: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._cleanup()


def _sse_heartbeat() -> Item:
    return Item(f": heartbeat {int(time.time() * 1000)}", "heartbeat", None, 0)


async def _sse(session: Session, subscription: Subscribe, push: Push) -> AsyncIterator[str]:
    positions: dict[Channel, int] = dict(subscription.since)
    yield f"retry: 2000\n: perpwatch push, heartbeat every {push.heartbeat_s:g} s\n\n"
    await session.subscribe(subscription)
    batches = outgoing(session, heartbeat_s=push.heartbeat_s, heartbeat=_sse_heartbeat)
    try:
        async for batch in batches:  # one chunk (one write) per batch
            yield "".join([_sse_lines(item, positions, subscription) for item in batch])
    except Overflow:
        yield 'event: error\ndata: {"type":"error","msg":"client too slow"}\n\n'
    finally:
        await batches.aclose()


def _sse_lines(item: Item, positions: dict[Channel, int], subscription: Subscribe) -> str:
    """One item as SSE lines; ``positions`` (each channel's last sequence number sent)
    moves on with it."""
    if item.type == "heartbeat":  # a comment line: no event for the browser
        return f"{item.frame}\n\n"
    lines = ""
    if item.channel is not None:
        positions[item.channel] = item.seq
        at = ",".join(f"{c}:{positions[c]}" for c in subscription.channels if c in positions)
        lines = f"id: {at}\n"
    return f"{lines}event: {item.type}\ndata: {item.frame}\n\n"
