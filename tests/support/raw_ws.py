"""A WebSocket client on a plain socket that reads only when told to: a truly slow client.

Library clients read the socket in the background whatever the application does, so
they cannot show what a server does when a client stops reading. This one speaks the
protocol through websockets' sans-I/O :class:`~websockets.client.ClientProtocol` and
touches the socket only in :meth:`send_text` and :meth:`read`, with a small receive
buffer, so when it does not read, the server's writes back up.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri


class RawWebSocket:
    def __init__(self, url: str, *, rcvbuf: int = 16_384) -> None:
        parts = urlsplit(url)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((parts.hostname or "127.0.0.1", parts.port or 80))
        self.proto = ClientProtocol(parse_uri(url), max_size=None)
        self.proto.send_request(self.proto.connect())
        self._flush()
        self.close_code: int | None = None
        self._pending: list[str] = []
        deadline = time.monotonic() + 10
        while not any(isinstance(e, Response) for e in self._read_events(deadline)):
            pass
        if self.proto.handshake_exc is not None:
            raise self.proto.handshake_exc

    def _flush(self) -> None:
        for chunk in self.proto.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def _read_events(self, deadline: float) -> list[object]:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = self.sock.recv(65_536)
        if data:
            self.proto.receive_data(data)
        else:
            self.proto.receive_eof()
        events = self.proto.events_received()
        for e in events:
            if isinstance(e, Frame) and e.opcode is Opcode.TEXT:
                self._pending.append(e.data.decode())
            elif isinstance(e, Frame) and e.opcode is Opcode.CLOSE:
                self.close_code = Close.parse(e.data).code
        self._flush()  # pongs, close answers
        if not data and not events:
            raise ConnectionError("closed")
        return list(events)

    def send_text(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._flush()

    def read(self, timeout_s: float = 10.0) -> str:
        """The next text message; :class:`ConnectionError` once the server has closed."""
        deadline = time.monotonic() + timeout_s
        while not self._pending:
            if self.close_code is not None:
                raise ConnectionError(f"closed with {self.close_code}")
            if time.monotonic() > deadline:
                raise TimeoutError("no message")
            try:
                self._read_events(deadline)
            except ConnectionError:
                if self.close_code is None:
                    raise
        return self._pending.pop(0)

    def close(self) -> None:
        self.sock.close()
