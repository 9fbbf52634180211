"""Retries for exchange calls, in one place.

Temporary failures are retried with exponential backoff; a rate-limit answer pauses
the whole exchange (every caller) for the ``Retry-After`` the exchange asked for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from perpwatch.errors import RateLimited, TemporaryExchangeError

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRY_AFTER_S = 5.0
MAX_BACKOFF_S = 8.0


class ExchangeGate:
    """Shared pause of one exchange's traffic after a 429/418.

    Every request waits on :meth:`wait_open` first, so when one request is told to back
    off, all of them do, and traffic resumes by itself when the pause ends.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._closed_until = 0.0
        self.pauses = 0

    @property
    def paused_for_s(self) -> float:
        return max(0.0, self._closed_until - self._clock())

    def pause(self, seconds: float) -> None:
        until = self._clock() + seconds
        if until > self._closed_until:
            self._closed_until = until
            self.pauses += 1

    async def wait_open(self) -> None:
        # a loop, not an Event: another 429 may extend the pause while we sleep
        while (remaining := self.paused_for_s) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining)


async def call_with_retries(
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    retries: int,
    gate: ExchangeGate,
    base_delay_s: float = 0.25,
) -> T:
    """Run ``call`` with up to ``retries`` retries of temporary failures.

    ``what`` names the request in log lines (``binanceusdm klines BTCUSDT``).
    """
    attempt = 0
    while True:
        await gate.wait_open()
        try:
            return await call()
        except RateLimited as e:
            pause = e.retry_after_s if e.retry_after_s is not None else DEFAULT_RETRY_AFTER_S
            gate.pause(pause)
            if attempt >= retries:
                raise
            attempt += 1
            logger.warning(
                "%s rate-limited; pausing exchange traffic %.1fs (%d tries left)",
                what,
                pause,
                retries - attempt + 1,
            )
        except TemporaryExchangeError as e:
            if attempt >= retries:
                raise
            attempt += 1
            delay = min(MAX_BACKOFF_S, base_delay_s * 2 ** (attempt - 1))
            logger.warning(
                "%s failed (%s); retrying in %.2fs (%d tries left)",
                what,
                e,
                delay,
                retries - attempt + 1,
            )
            await asyncio.sleep(delay)
