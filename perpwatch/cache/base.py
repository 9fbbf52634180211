"""What every cache backend offers. Values are strings (JSON), TTLs are seconds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

CacheSource = Literal["redis", "memory"]

_GLOB_SPECIALS = frozenset("*?[]\\")


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A value and the backend that answered with it."""

    value: str
    source: CacheSource


class Cache(Protocol):
    """A string key/value store where every entry expires."""

    async def get(self, key: str) -> str | None: ...

    async def mget(self, keys: Sequence[str]) -> list[str | None]: ...

    async def set(self, key: str, value: str, *, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (> 0; fractions allowed)."""

    async def delete(self, key: str) -> None: ...

    async def scan_keys(self, prefix: str) -> list[str]:
        """Every live key starting with ``prefix`` (taken literally), in no order."""

    async def ttl_s(self, key: str) -> float | None:
        """Remaining seconds to live; ``None`` if the key does not exist."""

    async def ping(self) -> bool:
        """``True`` if the backend answers; never raises."""

    async def close(self) -> None: ...


def check_ttl(ttl_s: float) -> None:
    """Reject TTLs Redis would reject (a programming error, not an outage)."""
    if not (ttl_s > 0 and math.isfinite(ttl_s)):
        raise ValueError(f"ttl_s must be a positive finite number of seconds, got {ttl_s!r}")


def ttl_ms(ttl_s: float) -> int:
    """Seconds to whole milliseconds for ``SET PX``, never rounding a positive TTL to 0."""
    check_ttl(ttl_s)
    return max(1, round(ttl_s * 1000))


def glob_escape(text: str) -> str:
    """``text`` with Redis glob characters escaped, for a literal ``SCAN MATCH``."""
    return "".join("\\" + c if c in _GLOB_SPECIALS else c for c in text)
