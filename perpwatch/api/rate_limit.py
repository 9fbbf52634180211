"""Per-client token buckets for the calls that cost exchange weight or queue work.

Each client has a bucket of ``burst`` tokens refilled at ``rate_per_min`` per minute. A
costly call takes one token; with none left the API answers 429 with ``Retry-After``.
Memory is bounded: at most ``max_clients`` buckets are kept, least recently used first
out (a forgotten client simply starts again with a full bucket).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    def __init__(
        self,
        *,
        rate_per_min: float,
        burst: int,
        max_clients: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_min <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate_per_min must be > 0, burst and max_clients >= 1")
        self.rate_per_s = rate_per_min / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, client: str) -> _Bucket:
        now = self._clock()
        b = self._buckets.get(client)
        if b is None:
            b = _Bucket(self.burst, now)
            self._buckets[client] = b
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            b.tokens = min(self.burst, b.tokens + (now - b.updated) * self.rate_per_s)
            b.updated = now
        return b

    def retry_after(self, client: str) -> int | None:
        """None when ``client`` has a token now, else the whole seconds until it has one."""
        b = self._bucket(client)
        if b.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - b.tokens) / self.rate_per_s))

    def take(self, client: str) -> int | None:
        """Take a token: None on success, else the seconds to wait (nothing is taken)."""
        wait = self.retry_after(client)
        if wait is None:
            self._buckets[client].tokens -= 1.0
        return wait

    def charge(self, client: str) -> None:
        """Take a token for work already done, even into debt (at most one burst deep)."""
        b = self._bucket(client)
        b.tokens = max(-self.burst, b.tokens - 1.0)

    def refund(self, client: str) -> None:
        """Give back a token taken for a call that turned out to cost nothing."""
        b = self._buckets.get(client)
        if b is not None:
            b.tokens = min(self.burst, b.tokens + 1.0)
