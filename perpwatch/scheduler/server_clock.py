"""The exchange's clock, as an offset from ours: candle closes happen in its time.

The offset is measured with the exchange's server-time endpoint (one request of the
cheapest weight), halfway through the round trip, at start and every ``every_s``; a
failed measurement is tried again after ``retry_s``. Until a measurement succeeds the
offset is 0, and the status says it was never measured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from perpwatch.errors import PerpwatchError

logger = logging.getLogger(__name__)


class ServerClock:
    def __init__(
        self,
        server_time_ms: Callable[[], Awaitable[int]],
        *,
        every_s: float = 600.0,
        retry_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._server_time_ms = server_time_ms
        self._every_s = every_s
        self._retry_s = retry_s
        self._failed_at: float | None = None
        self._clock = clock
        self.offset_s = 0.0
        self.rtt_s: float | None = None
        self.measured_at: float | None = None
        self.error: str | None = None

    async def measure(self) -> None:
        t0 = self._clock()
        try:
            server_ms = await self._server_time_ms()
        except PerpwatchError as e:
            if self.error is None:
                logger.warning("exchange server time unreadable (%s); offset stays %.3fs", e,
                               self.offset_s)  # fmt: skip
            self.error = str(e)
            self._failed_at = self._clock()
            return
        t1 = self._clock()
        self.offset_s = server_ms / 1000 - (t0 + t1) / 2
        self.rtt_s = t1 - t0
        self.measured_at = t1
        self.error = None
        self._failed_at = None

    async def refresh(self) -> None:
        """Measure when never measured, or the last measurement is ``every_s`` old; after
        a failed one, not again for ``retry_s`` (the scheduler asks on every turn of its
        loop, and an exchange without the endpoint must not get a request each time)."""
        now = self._clock()
        if self._failed_at is not None and now - self._failed_at < self._retry_s:
            return
        if self.measured_at is None or now - self.measured_at >= self._every_s:
            await self.measure()
