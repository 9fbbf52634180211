"""The refresh of a further timeframe (``HAMA_TIMEFRAMES`` after the primary): at each of
its candle closes, and never in between.

A 1h or 4h analysis can only change when one of its candles closes, so its candles are
fetched then and only then: ``delay_s`` after each close, by the exchange's clock (the
primary schedule's :class:`ServerClock`). A turn computes only the symbols whose cached
analysis predates the close (a leader that takes over mid-way, or a turn retried after
failures, does not fetch a symbol twice), and with Redis the close is claimed with
``SET NX`` first (``hama:cycle:1h:<close+delay>``), so two processes that both believe
they lead do not both run it. On start, symbols with no analysis of the last close are
filled in, and once a minute symbols still without an analysis of the last close (they
failed, are newly watched, or were not listed yet) are caught up.
The turns run in the leader, with bounded concurrency: at most one request per symbol
per close, of the cheapest weight (an incremental fetch of the candles since the last).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from perpwatch.analysis.service import AnalysisService
from perpwatch.background import Background
from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.errors import CacheUnavailable, PerpwatchError
from perpwatch.metrics import record
from perpwatch.scheduler.models import TimeframeRun, TimeframeStatus, signal_lag
from perpwatch.scheduler.server_clock import ServerClock
from perpwatch.scheduler.timing import next_close_start
from perpwatch.timeutil import iso_ms, iso_s
from perpwatch.types import timeframe_ms

logger = logging.getLogger(__name__)

CATCH_UP_S = 60.0
WAIT_FOR_SYMBOLS_S = 0.5
MAX_LISTED_FAILURES = 20


@dataclass(frozen=True, slots=True)
class CloseClaims:
    """With Redis: who may run a close (one process per close)."""

    store: ScheduleStore
    owner: str


def last_close_ms(now_s: float, *, tf_s: float, delay_s: float, offset_s: float) -> int:
    """The latest close of ``tf_s`` candles whose refresh is due by ``now_s`` (local)."""
    tf_ms = int(tf_s * 1000)
    return int((now_s + offset_s - delay_s) * 1000) // tf_ms * tf_ms


class CloseRefresher:
    def __init__(
        self,
        *,
        service: AnalysisService,
        symbols: Callable[[], list[str]],
        active: Callable[[], bool],
        server_clock: ServerClock,
        delay_s: float,
        concurrency: int,
        claims: CloseClaims | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.timeframe = service.timeframe
        self._tf_s = timeframe_ms(self.timeframe) / 1000
        self._symbols = symbols
        self._active = active
        self._server_clock = server_clock
        self._delay_s = delay_s
        self._concurrency = max(1, concurrency)
        self._claims = claims
        self._clock = clock
        self._bg = Background(f"refresh-{self.timeframe}")
        self.next_close_ms: int | None = None
        self.last_run: TimeframeRun | None = None
        self.runs = 0

    @property
    def running(self) -> bool:
        return self._bg.running

    def start(self) -> None:
        self._bg.start(self._loop)

    async def stop(self) -> None:
        await self._bg.stop()
        self.next_close_ms = None

    def status(self) -> TimeframeStatus:
        return TimeframeStatus(
            timeframe=self.timeframe,
            running=self.running,
            next_candle_close=None if self.next_close_ms is None else iso_ms(self.next_close_ms),
            runs=self.runs,
            last_run=self.last_run,
        )

    async def _loop(self) -> None:
        for _ in itertools.count():  # the primary schedule lists the symbols first
            if self._symbols():
                break
            await asyncio.sleep(WAIT_FOR_SYMBOLS_S)
        await self._server_clock.refresh()
        close = last_close_ms(self._clock(), tf_s=self._tf_s, delay_s=self._delay_s,
                              offset_s=self._server_clock.offset_s)  # fmt: skip
        await self._guarded_turn(close, claim=False)  # fill in what is missing
        while True:
            at, nxt = next_close_start(self._clock(), tf_s=self._tf_s, delay_s=self._delay_s,
                                       offset_s=self._server_clock.offset_s,
                                       after_close_ms=close)  # fmt: skip
            self.next_close_ms = nxt
            # between closes, once a minute: symbols still without an analysis of the last
            # close (failed ones, newly watched ones, or none listed yet) are caught up
            wake = min(at, self._clock() + CATCH_UP_S)
            await asyncio.sleep(max(0.0, wake - self._clock()))
            await self._server_clock.refresh()
            if self._clock() + 1e-3 >= at:
                close = nxt
                await self._guarded_turn(close, claim=True)
            else:
                await self._guarded_turn(close, claim=False, catch_up=True)

    async def _guarded_turn(self, close_ms: int, *, claim: bool, catch_up: bool = False) -> int:
        """:meth:`turn`, never raising (the loop must go on to the next close); returns
        how many symbols failed."""
        try:
            run = await self.turn(close_ms, claim=claim, catch_up=catch_up)
        except CacheUnavailable as e:
            logger.warning("%s refresh of %s skipped: Redis did not answer (%s)",
                           self.timeframe, iso_ms(close_ms), e)  # fmt: skip
            return 1
        return 0 if run is None else run.failed

    async def turn(
        self, close_ms: int, *, claim: bool, catch_up: bool = False
    ) -> TimeframeRun | None:
        """Refresh every watched symbol not yet analysed for ``close_ms``. ``None``: the
        schedule is stopped, or another process claimed this close. A ``catch_up`` with
        nothing to do is not recorded as a run."""
        if not self._active():
            return None
        if claim and self._claims is not None:
            start_ms = close_ms + round(self._delay_s * 1000)
            taken = await self._claims.store.claim_cycle(
                self.timeframe, start_ms, owner=self._claims.owner, ttl_s=2 * self._tf_s + 60
            )
            if not taken:
                logger.info("%s close %s taken by another process", self.timeframe,
                            iso_ms(close_ms))  # fmt: skip
                return None
        symbols = list(self._symbols())
        close_iso = iso_ms(close_ms)
        times = await self.service.cached_times(symbols)
        due = [s for s, t in zip(symbols, times, strict=True) if t is None or t[1] < close_iso]
        started = self._clock()
        run = TimeframeRun(candle_close=close_iso, started=iso_s(started), finished=None,
                           total=len(symbols), refreshed=0, current=len(symbols) - len(due),
                           failed=0, duration_s=None)  # fmt: skip
        if not due and catch_up:
            return run
        self.last_run = run
        gate = asyncio.Semaphore(self._concurrency)
        cycle_id = f"{self.timeframe}:{close_ms}"
        failures: dict[str, str] = {}

        async def one(symbol: str) -> None:
            async with gate:
                try:
                    await self.service.refresh_here(symbol, cycle_id=cycle_id)
                except PerpwatchError as e:
                    failures[symbol] = f"{type(e).__name__}: {e}"

        await asyncio.gather(*(one(s) for s in due))
        finished = self._clock()
        lag = None
        if due:
            with contextlib.suppress(CacheUnavailable):
                lag = signal_lag(close_ms, close_iso, await self.service.cached_times(due))
        run = run.model_copy(update={
            "finished": iso_s(finished), "refreshed": len(due) - len(failures),
            "failed": len(failures), "duration_s": round(finished - started, 3),
            "failures": dict(list(failures.items())[:MAX_LISTED_FAILURES]), "signal_lag": lag,
        })  # fmt: skip
        self.last_run = run
        self.runs += 1
        record.refresh_finished(timeframe=self.timeframe, duration_s=finished - started,
                                ok=run.refreshed, failed=run.failed)  # fmt: skip
        if due:
            logger.info("%s close %s: %d refreshed, %d already current, %d failed",
                        self.timeframe, close_iso, run.refreshed, run.current,
                        run.failed)  # fmt: skip
        return run
