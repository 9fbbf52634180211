"""Sending push frames to a WebSocket client: the bytes of many frames in one write.

Through ASGI, every message to every client is encoded, framed and written by the server
on its own: with a thousand clients that is a thousand encodings of the same event and a
thousand system calls per event. perpwatch builds each event's frame once
(:func:`perpwatch.push.wire.text_frame`), and when the server is uvicorn's sans-I/O
``websockets`` protocol with no extension negotiated (perpwatch offers none), it writes a
batch of frames to the connection's transport in one call, honouring the transport's
flow control as uvicorn's own send does. With any other server, or an extension in use,
the frames go through ASGI one by one. Either way the client receives the same bytes.

This is the one place that knows uvicorn's protocol object; a uvicorn whose protocol has
changed shape falls back to ASGI (see :func:`batch_sender`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Send
from websockets.protocol import State

from perpwatch.push.events import Item

BatchSend = Callable[[list[Item]], Awaitable[None]]

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - uvicorn is a dependency; another server may run us
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]


class SocketGone(ConnectionError):
    """The client's connection closed (or is closing): nothing more can be sent."""


def _raw_protocol(send: Send) -> Any | None:
    """uvicorn's protocol behind ``send`` when frames can be written to its transport."""
    proto = getattr(send, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(proto, WebSocketsSansIOProtocol):
        return None
    conn = getattr(proto, "conn", None)
    needed = ("transport", "writable", "disconnected", "close_sent")
    if (
        conn is None
        or getattr(conn, "extensions", None) != []
        or not all(hasattr(proto, a) for a in needed)
    ):
        return None
    return proto


def batch_sender(send: Send) -> tuple[BatchSend, bool]:
    """A function that sends a batch of items to the client behind ``send`` (an ASGI
    send, after the handshake), and whether it writes frames directly."""
    proto = _raw_protocol(send)
    if proto is None:

        async def via_asgi(items: list[Item]) -> None:
            for item in items:
                await send(item.asgi())

        return via_asgi, False

    async def direct(items: list[Item]) -> None:
        if not proto.writable.is_set():  # the transport's buffer is full: wait, as uvicorn does
            await proto.writable.wait()
        transport = proto.transport
        if (
            proto.disconnected
            or proto.close_sent
            or proto.conn.state is not State.OPEN
            or transport.is_closing()
        ):
            raise SocketGone("the WebSocket is closed")
        transport.write(b"".join([item.ws_frame() for item in items]))

    return direct, True
