"""Event-loop lag: how late the loop wakes a timer, the sign of work blocking it.

Every ``every_s`` a sleep of ``every_s`` is timed; the lag is what it overshot. The gauge
holds the largest lag of the last ``window`` samples (10 s by default), so a scrape every
15 s still sees a short stall.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from perpwatch.background import Background
from perpwatch.metrics import record

EVERY_S = 0.5
WINDOW = 20


def overshoot(*, started: float, ended: float, slept_s: float) -> float:
    """The lag of one timed sleep (never negative)."""
    return max(0.0, ended - started - slept_s)


class LoopLag:
    def __init__(
        self,
        role: str,
        *,
        every_s: float = EVERY_S,
        window: int = WINDOW,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.role = role
        self.every_s = every_s
        self._samples: deque[float] = deque(maxlen=window)
        self._monotonic = monotonic
        self._bg = Background(f"perpwatch-loop-lag-{role}")

    @property
    def lag_s(self) -> float | None:
        """The largest lag in the window (None before the first sample)."""
        return max(self._samples) if self._samples else None

    def start(self) -> None:
        self._bg.start(self._loop)

    async def stop(self) -> None:
        await self._bg.stop()

    async def _loop(self) -> None:
        while not self._bg.stopping:
            started = self._monotonic()
            await asyncio.sleep(self.every_s)
            self._samples.append(overshoot(started=started, ended=self._monotonic(),
                                           slept_s=self.every_s))  # fmt: skip
            record.loop_lag(self.role, max(self._samples))
