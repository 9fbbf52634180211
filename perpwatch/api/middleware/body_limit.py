"""Request bodies larger than ``MAX_BODY_BYTES`` are refused with HTTP 413.

Two checks, because a client need not announce the size: a ``Content-Length`` above the
limit is refused before the app runs; a body without one (``Transfer-Encoding: chunked``)
is counted as it streams in, and the request is refused as soon as the count passes the
limit -- the rest is never buffered. Either way the app sees no partial body, so
nothing changes, and the answer is the error envelope of the request's area.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from perpwatch.api.errors import error_response


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large: the limit is {limit} bytes")


def declared_length(scope: Scope) -> int | None:
    """``Content-Length`` as an int; None when absent. Servers reject malformed values."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            # normally the app's HTTPException handler answers; this covers a body read
            # outside it (e.g. by another middleware)
            if started:
                raise
            await self._refuse(scope, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        e = BodyTooLarge(limit)
        response = error_response(scope.get("path", ""), 413, str(e.detail))
        response.headers["Connection"] = "close"

        async def no_receive() -> Message:  # the body is never read
            return {"type": "http.disconnect"}

        await response(scope, no_receive, send)
