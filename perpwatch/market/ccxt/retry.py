"""Retries for exchange calls, in one place.

Temporary failures are retried with exponential backoff; a rate-limit answer pauses
the whole exchange (every caller) for the ``Retry-After`` the exchange asked for.

When ``breaker_failures`` attempts in a row have failed (no answer at all from the
exchange in between), the exchange is treated as down: requests fail at once, without
being sent, except one probe every ``breaker_probe_s``; callers arriving while a probe is
out wait for its outcome. The first answer closes the breaker. A dead exchange then costs
a refresh run almost nothing, and the run after the exchange returns succeeds.

Logging is per episode, not per retry: the first failure of an episode is a warning and
further ones are DEBUG; an episode ends after ``EPISODE_QUIET_S`` without a failure (so
random faults between successes make one episode, not one warning each).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from perpwatch.errors import ExchangeError, RateLimited, TemporaryExchangeError
from perpwatch.metrics import record

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_RETRY_AFTER_S = 5.0
MAX_BACKOFF_S = 8.0
EPISODE_QUIET_S = 60.0
Admission = Literal["go", "probe", "fail"]


class ExchangeGate:
    """One exchange's shared state: the pause after a 429/418, the breaker, the counters.

    Every request waits on :meth:`wait_open` first, so when one request is told to back
    off, all of them do, and traffic resumes by itself when the pause ends.
    """

    def __init__(
        self,
        *,
        name: str = "exchange",
        clock: Callable[[], float] = time.monotonic,
        breaker_failures: int = 30,
        breaker_probe_s: float = 5.0,
    ) -> None:
        self.name = name
        self._clock = clock
        self._closed_until = 0.0
        self._breaker_failures = breaker_failures
        self._probe_s = breaker_probe_s
        self._streak = 0  # attempts failed in a row, no answer in between
        self._last_failure_at = float("-inf")
        self._next_probe_at = 0.0
        self._probe: asyncio.Event | None = None
        self.breaker_open = False
        self.last_error: str | None = None
        self.pauses = 0
        self.retries = 0
        self.failed_attempts = 0
        self.rate_limited = 0
        self.not_sent = 0
        record.exchange_breaker(name, open_=False)

    # --- pause after 429/418 ---------------------------------------------------------

    @property
    def paused_for_s(self) -> float:
        return max(0.0, self._closed_until - self._clock())

    def pause(self, seconds: float) -> bool:
        """Close the gate for ``seconds``; True when traffic was flowing until now."""
        was_open = self.paused_for_s <= 0
        until = self._clock() + seconds
        if until > self._closed_until:
            self._closed_until = until
            self.pauses += 1
        return was_open

    async def wait_open(self) -> None:
        # a loop, not an Event: another 429 may extend the pause while we sleep
        while (remaining := self.paused_for_s) > 0:  # noqa: ASYNC110
            await asyncio.sleep(remaining)

    # --- failures and the breaker ----------------------------------------------------

    async def admit(self) -> Admission:
        """``go``; ``probe`` (the breaker is open and this request tests the exchange);
        ``fail`` (open, a probe is not due: do not send)."""
        while self.breaker_open:
            if self._probe is not None:  # wait for the probe's outcome, then decide
                await self._probe.wait()
                continue
            if self._clock() < self._next_probe_at:
                return "fail"
            self._probe = asyncio.Event()
            self._next_probe_at = self._clock() + self._probe_s
            return "probe"
        return "go"

    def probe_done(self) -> None:
        if self._probe is not None:
            self._probe.set()
            self._probe = None

    def note_answer(self) -> None:
        """The exchange answered (data, a rejection, a rate limit): it is up."""
        if self.breaker_open:
            logger.info(
                "%s answers again after %d failed attempts; sending requests normally",
                self.name,
                self._streak,
            )
            self.breaker_open = False
            record.exchange_breaker(self.name, open_=False)
        self._streak = 0

    def note_failure(self, error: str) -> bool:
        """Count a failed attempt; True when it is the first of an episode."""
        now = self._clock()
        first = now - self._last_failure_at > EPISODE_QUIET_S
        self._last_failure_at = now
        self._streak += 1
        self.failed_attempts += 1
        self.last_error = error
        if not self.breaker_open and self._streak >= self._breaker_failures:
            self.breaker_open = True
            record.exchange_breaker(self.name, open_=True)
            self._next_probe_at = self._clock() + self._probe_s
            logger.warning(
                "%s looks down: %d attempts in a row failed (last: %s); not sending requests, "
                "one probe every %gs",
                self.name,
                self._streak,
                error,
                self._probe_s,
            )
        return first

    def outage(self) -> str:
        return f"{self._streak} attempts in a row failed, last: {self.last_error}"

    def as_json(self) -> dict[str, Any]:
        return {
            "paused_for_s": round(self.paused_for_s, 3),
            "pauses": self.pauses,
            "breaker_open": self.breaker_open,
            "retries": self.retries,
            "failed_attempts": self.failed_attempts,
            "rate_limited": self.rate_limited,
            "not_sent": self.not_sent,
            "last_error": self.last_error,
        }


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
        admission = await gate.admit()
        if admission == "fail":
            gate.not_sent += 1
            record.exchange_request(gate.name, "not_sent")
            msg = f"{what}: not sent, {gate.name} looks down ({gate.outage()})"
            raise TemporaryExchangeError(msg)
        delay = 0.0
        try:
            result = await call()
        except RateLimited as e:
            gate.note_answer()
            gate.rate_limited += 1
            record.exchange_request(gate.name, "rate_limited")
            pause = e.retry_after_s if e.retry_after_s is not None else DEFAULT_RETRY_AFTER_S
            if gate.pause(pause):
                logger.warning(
                    "%s rate-limited (%s); pausing all %s traffic %.1fs", what, e, gate.name, pause
                )
            if attempt >= retries:
                raise
        except TemporaryExchangeError as e:
            record.exchange_request(gate.name, "error")
            first = gate.note_failure(str(e))
            if attempt >= retries:
                raise
            delay = min(MAX_BACKOFF_S, base_delay_s * 2**attempt)
            log = logger.warning if first else logger.debug
            log(
                "%s failed (%s); retrying in %.2fs (%d tries left; further failures of %s "
                "logged at DEBUG until none for %.0fs)",
                what,
                e,
                delay,
                retries - attempt,
                gate.name,
                EPISODE_QUIET_S,
            )
        except ExchangeError:  # rejected: the exchange is up, retrying will not help
            record.exchange_request(gate.name, "rejected")
            gate.note_answer()
            raise
        else:
            record.exchange_request(gate.name, "ok")
            gate.note_answer()
            return result
        finally:
            if admission == "probe":
                gate.probe_done()
        attempt += 1
        gate.retries += 1
        if delay:
            await asyncio.sleep(delay)
