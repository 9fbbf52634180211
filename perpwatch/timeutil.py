"""Time formatting helpers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(epoch_ms: int) -> str:
    """``2026-11-25T03:15:27.123Z`` for an epoch-milliseconds time."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def iso_s(epoch_s: float) -> str:
    return iso_ms(round(epoch_s * 1000))
