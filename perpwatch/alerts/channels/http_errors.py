"""An HTTP answer or an httpx failure, as a delivery error."""

from __future__ import annotations

import email.utils
import time

import httpx

from perpwatch.errors import (
    DeliveryError,
    DeliveryRateLimited,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)

MAX_REASON_CHARS = 200


def retry_after_s(value: str | None, *, now_s: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value)) if value.isdigit() else _date(value, now_s)
    except (TypeError, ValueError, OverflowError):
        return None


def _date(value: str, now_s: float | None) -> float | None:
    parsed = email.utils.parsedate_to_datetime(value)
    return max(0.0, parsed.timestamp() - (time.time() if now_s is None else now_s))


def for_status(status: int, reason: str, *, retry_after: float | None) -> DeliveryError | None:
    """The error an answer means (None: delivered)."""
    reason = reason[:MAX_REASON_CHARS]
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:  # redirects are not followed: one could lead anywhere
        return PermanentDeliveryError(f"HTTP {status} (redirects are not followed)", status=status)
    if status == 429:
        return DeliveryRateLimited(f"HTTP 429: {reason}", retry_after_s=retry_after)
    if 400 <= status < 500:
        return PermanentDeliveryError(f"HTTP {status}: {reason}", status=status)
    return TemporaryDeliveryError(f"HTTP {status}: {reason}", status=status)


def for_transport(e: httpx.HTTPError) -> TemporaryDeliveryError:
    return TemporaryDeliveryError(f"no answer: {type(e).__name__}: {str(e)[:MAX_REASON_CHARS]}")
