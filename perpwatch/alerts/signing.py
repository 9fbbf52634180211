"""The webhook signature: ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``.

The timestamp (unix seconds, ``X-Perpwatch-Timestamp``) is signed with the body, so a
receiver that also rejects old timestamps cannot be fed a recorded request again later.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, sig: str, *, now_s: float, max_skew_s: float = 300
) -> bool:
    """What a receiver does (the README's snippet, as a function the tests use)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - ts) > max_skew_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), sig)
