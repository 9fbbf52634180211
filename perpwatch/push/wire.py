"""WebSocket frames as bytes (RFC 6455, section 5.2): built once per event, written as they
are to every client's socket.

A server's frames are never masked, and perpwatch's push offers no extension (no
per-message compression), so a text message is a two-to-ten-byte header and the UTF-8
payload: the same bytes for every client."""

from __future__ import annotations

import struct

FIN_TEXT = 0x81  # FIN set, opcode 1 (text)


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying ``payload`` (UTF-8)."""
    n = len(payload)
    if n < 126:
        header = bytes((FIN_TEXT, n))
    elif n < 1 << 16:
        header = struct.pack("!BBH", FIN_TEXT, 126, n)
    else:
        header = struct.pack("!BBQ", FIN_TEXT, 127, n)
    return header + payload
