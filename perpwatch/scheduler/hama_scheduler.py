"""The HAMA refresh schedule: every symbol recomputed in the background, runs never overlap.

A run's summary names every symbol that failed, with the reason. A run in which every
symbol failed, or the symbols could not be listed, is a failed run; the status counts
them in a row (``consecutive_failed_runs``) until a run succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from perpwatch.analysis.service import AnalysisService
from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.errors import CacheUnavailable, PerpwatchError
from perpwatch.market.base import MarketData
from perpwatch.market.candle_store import CandleStore
from perpwatch.metrics import record
from perpwatch.scheduler.distributed import CycleCounts, DistributedCycles
from perpwatch.scheduler.models import (
    RunProgress,
    RunReport,
    ScheduleStatus,
    SignalLag,
    TimeframeStatus,
    signal_lag,
)
from perpwatch.scheduler.server_clock import ServerClock
from perpwatch.scheduler.timing import effective_period_s, next_close_start
from perpwatch.scheduler.watchlist import resolve_watchlist
from perpwatch.timeutil import iso_ms, iso_s

logger = logging.getLogger(__name__)

LIST_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
LOGGED_FAILURES = 5  # per-symbol warnings in a run (none during an outage); the rest DEBUG

ProgressCallback = Callable[[int, int, int], None]  # done, total, failed
FIRST_START_GRID_S = 5.0  # a first cycle starts on this grid, so rival leaders agree on it
PUBLISH_EVERY_S = 0.5


@dataclass(frozen=True, slots=True)
class Coordination:
    """What a scheduler shares with the other processes on its Redis."""

    store: ScheduleStore
    cycles: DistributedCycles
    owner: str  # this process's id
    timeframe: str


@dataclass(frozen=True, slots=True)
class CandleCloses:
    """Runs aligned to candle closes: one starts ``delay_s`` after each close of the
    ``tf_s`` candles, in the exchange's time (``clock``)."""

    tf_s: float
    delay_s: float
    clock: ServerClock


@dataclass(slots=True)
class RunSummary:
    started: float
    total: int
    finished: float | None = None
    ok: int = 0
    failed: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # every failed symbol: reason
    cycle_id: str | None = None
    shards: dict[str, Any] | None = None  # the board of a distributed cycle
    close_ms: int | None = None  # the candle close this run refreshes (None: between closes)
    signal_lag: SignalLag | None = None

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def all_failed(self) -> bool:
        return self.total > 0 and self.ok == 0 and self.failed > 0

    @property
    def duration_s(self) -> float | None:
        return None if self.finished is None else round(self.finished - self.started, 3)

    def report(self) -> RunReport:
        return RunReport(
            started=iso_s(self.started),
            finished=None if self.finished is None else iso_s(self.finished),
            total=self.total,
            ok=self.ok,
            failed=self.failed,
            duration_s=self.duration_s,
            failures=dict(self.failures),
            cycle_id=self.cycle_id,
            shards=self.shards,
            candle_close=None if self.close_ms is None else iso_ms(self.close_ms),
            signal_lag=self.signal_lag,
        )

    def progress(self) -> RunProgress:
        return RunProgress(
            done=self.done,
            total=self.total,
            failed=self.failed,
            started=iso_s(self.started),
            cycle_id=self.cycle_id,
            shards=self.shards,
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON values (a ``hama_refresh`` task's result)."""
        return self.report().model_dump(mode="json")

    def to_state(self) -> dict[str, Any]:
        return {"started": self.started, "finished": self.finished, "total": self.total,
                "ok": self.ok, "failed": self.failed, "failures": dict(self.failures),
                "cycle_id": self.cycle_id, "shards": self.shards, "close_ms": self.close_ms,
                "signal_lag": None if self.signal_lag is None
                else self.signal_lag.model_dump(mode="json")}  # fmt: skip

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> RunSummary:
        return cls(started=float(raw["started"]), total=int(raw["total"]),
                   finished=None if raw.get("finished") is None else float(raw["finished"]),
                   ok=int(raw.get("ok", 0)), failed=int(raw.get("failed", 0)),
                   failures=dict(raw.get("failures") or {}), cycle_id=raw.get("cycle_id"),
                   shards=raw.get("shards"), close_ms=raw.get("close_ms"),
                   signal_lag=None if not raw.get("signal_lag")
                   else SignalLag.model_validate(raw["signal_lag"]))  # fmt: skip


class RunInProgress(PerpwatchError):
    """A refresh run is already going; runs never overlap."""


class HamaScheduler:
    def __init__(
        self,
        *,
        service: AnalysisService,
        market: MarketData,
        candles: CandleStore,
        explicit_symbols: list[str],
        symbols_limit: int,
        interval_s: float,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        coordination: Coordination | None = None,
        closes: CandleCloses | None = None,
    ) -> None:
        self._coord = coordination
        self._closes = closes
        # the further timeframes' refreshes, shown (and published) with this status
        self.further_status: Callable[[], list[TimeframeStatus]] = list
        self.next_close_ms: int | None = None  # the close the run at next_run_at refreshes
        self.last_close_ms: int | None = None
        self.last_signal_lag: SignalLag | None = None
        # started as a newly elected leader: carries on from the shared state, and with
        # none to follow puts its first cycle on the rivals' grid
        self._elected = False
        self._stop_requested = False
        self._published_at = 0.0
        self._publishing: set[asyncio.Task[None]] = set()
        self._service = service
        self._market = market
        self._candles = candles
        self._explicit = list(explicit_symbols)
        self._limit = symbols_limit
        self.interval_s = interval_s
        self._concurrency = concurrency
        self._clock = clock
        self.symbols: list[str] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[RunSummary | None] | None = None
        self._run_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.next_run_at: float | None = None
        self.last_run: RunSummary | None = None
        self.current_run: RunSummary | None = None
        self.runs = 0
        self.runs_skipped = 0
        self.list_error: str | None = None
        self.consecutive_failed_runs = 0
        self.last_ok_run_at: float | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def effective_interval_s(self) -> float:
        last = self.last_run.duration_s if self.last_run else None
        return effective_period_s(
            interval_s=self.interval_s, ttl_s=self._service.ttl_s, last_duration_s=last or 0.0
        )

    async def resolve_symbols(self) -> list[str]:
        return await resolve_watchlist(self._market, explicit=self._explicit, limit=self._limit)

    async def start(
        self,
        *,
        symbols: list[str] | None = None,
        interval_s: float | None = None,
        aligned: bool = False,
    ) -> None:
        """Start (or restart with new settings); the first run begins at once, in the background.

        ``aligned`` (a newly elected leader): it carries on from the shared state, and
        with no shared timetable to follow, the first cycle starts on a coarse grid, so
        that two rivals would claim the same one. A restart asked through the API starts
        afresh (a cycle it left goes on in the workers)."""
        await self.stop()
        self._stop_requested = False
        self._elected = aligned
        if symbols is not None:
            self._explicit = list(symbols)
            self.symbols = list(symbols)
            self._candles.retain_only(set(symbols))
        if interval_s is not None:
            self.interval_s = interval_s
        self.next_run_at = None
        self._loop_task = asyncio.create_task(self._loop(), name="hama-scheduler")
        logger.info("HAMA scheduler started (interval %.1f min)", self.interval_s / 60)

    async def stop(self, *, publish: bool = True) -> None:
        """Stop the schedule (a run in progress too). ``publish``: tell the other
        processes it stopped (not when deposed: the next leader speaks then)."""
        tasks = [t for t in (self._loop_task, self._run_task) if t is not None and not t.done()]
        # the flag as well as the cancel: a cancellation swallowed below us (seen with
        # redis-py 8.1 on Python 3.11: a cancelled task that went on with its loop) must not
        # leave the loop running while stop() waits for it
        self._stop_requested = True
        self._wake.set()
        # a progress write still in flight would land after the one below, naming the
        # run this stop abandons
        writes = [t for t in self._publishing if not t.done()]
        for t in [*tasks, *writes]:
            t.cancel()
        for t in [*tasks, *writes]:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if tasks:
            logger.info("HAMA scheduler stopped")
        self._loop_task = None
        self._run_task = None
        self.next_run_at = None
        if tasks and publish:
            await self.publish_state()

    @property
    def exchange_error(self) -> str | None:
        """Why the exchange gave nothing: the listing error, or a reason from the last
        run when every symbol in it failed."""
        if self.list_error is not None:
            return self.list_error
        last = self.last_run
        if last is not None and last.all_failed and last.failures:
            return next(iter(last.failures.values()))
        return None

    async def _ensure_symbols(self) -> None:
        attempt = 0
        while not self.symbols:
            try:
                self.symbols = await self.resolve_symbols()
                if self.list_error is not None:
                    logger.info("listing symbols works again (%d symbols)", len(self.symbols))
                self.list_error = None
                self._candles.retain_only(set(self.symbols))
            except PerpwatchError as e:
                self.list_error = str(e)
                self.consecutive_failed_runs += 1
                delay = LIST_RETRY_S[min(attempt, len(LIST_RETRY_S) - 1)]
                attempt += 1
                log = logger.warning if attempt == 1 else logger.debug
                log("listing symbols failed (%s); trying again in %.0fs", e, delay)
                await asyncio.sleep(delay)

    async def _loop(self) -> None:
        await self._ensure_symbols()
        if self._coord is not None and self._elected:
            await self._adopt(self._coord)
        while not self._stop_requested:
            now = self._clock()
            if self._closes is not None:
                await self._closes.clock.refresh()
            if self.next_run_at is None or now >= self.next_run_at:
                start = self._cycle_start(now)
                close_ms = self.next_close_ms if self.next_run_at is not None else None
                busy = self._run_task is not None and not self._run_task.done()
                if busy and close_ms is not None and self._run_task is not None:
                    # a close is due while the run before it goes on: it starts right after
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._run_task)
                    busy = False
                if busy:
                    self.runs_skipped += 1
                    logger.warning(
                        "HAMA refresh due but the previous run is still going (%d/%d); skipped",
                        self.current_run.done if self.current_run else 0,
                        len(self.symbols),
                    )
                else:
                    self._run_task = asyncio.create_task(
                        self._scheduled_run(start, close_ms), name="hama-refresh-run"
                    )
                    if close_ms is not None:
                        self.last_close_ms = close_ms
                self._plan_next(start)
            if self._coord is not None:
                await self.publish_state()
            self._wake.clear()
            assert self.next_run_at is not None  # planned above, or adopted
            wait_s = max(0.0, self.next_run_at - self._clock())
            if self._coord is not None:
                wait_s = min(wait_s, 1.0)  # the shared state stays fresh for the API
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()

    def _plan_next(self, start: float) -> None:
        """The next run: the configured period after ``start``, or the next candle close
        (plus its delay) when that comes first."""
        self.next_run_at = start + self.effective_interval_s
        self.next_close_ms = None
        if self._closes is None:
            return
        c = self._closes
        at, close_ms = next_close_start(start, tf_s=c.tf_s, delay_s=c.delay_s,
                                        offset_s=c.clock.offset_s,
                                        after_close_ms=self.last_close_ms)  # fmt: skip
        if at <= self.next_run_at + 1e-3:
            self.next_run_at, self.next_close_ms = at, close_ms

    def _cycle_start(self, now: float) -> float:
        """The planned start of the cycle due now. Planned starts follow from the shared
        state, so a takeover keeps the timetable; far behind (or the first cycle), the
        start is put on a coarse grid that two rival leaders compute alike."""
        planned = self.next_run_at
        if planned is not None and now - planned <= self.effective_interval_s:
            return planned
        if self._elected or planned is not None:
            return (now // FIRST_START_GRID_S) * FIRST_START_GRID_S
        return now

    async def _scheduled_run(self, start: float, close_ms: int | None) -> RunSummary | None:
        run = await self._claimed_run(start, close_ms)
        if run is not None and close_ms is not None:
            await self._measure_lag(run, close_ms)
        return run

    async def _measure_lag(self, run: RunSummary, close_ms: int) -> None:
        try:
            times = await self._service.cached_times(list(self.symbols))
        except CacheUnavailable as e:
            logger.debug("signal lag not measured: %s", e)
            return
        run.signal_lag = signal_lag(close_ms, iso_ms(close_ms), times)
        self.last_signal_lag = run.signal_lag
        lag = run.signal_lag
        logger.info("candle close %s: %d analyses cached, lag p50 %ss, max %ss, %d missing",
                    lag.candle_close, lag.measured, lag.p50_s, lag.max_s, lag.missing)  # fmt: skip
        if self._coord is not None:
            await self.publish_state()

    async def _claimed_run(self, start: float, close_ms: int | None) -> RunSummary | None:
        cycle_id: str | None = None
        coord = self._coord
        if coord is not None:
            # a close's cycle is named after the close (exchange time), which every
            # leader agrees on whatever its clock offset; others after their planned start
            start_ms = round(start * 1000)
            if close_ms is not None and self._closes is not None:
                start_ms = close_ms + round(self._closes.delay_s * 1000)
            try:
                ttl_s = max(60.0, 2 * self.effective_interval_s)
                claimed = await coord.store.claim_cycle(
                    coord.timeframe, start_ms, owner=coord.owner, ttl_s=ttl_s
                )
            except CacheUnavailable as e:
                self.runs_skipped += 1
                logger.warning("HAMA cycle not started: Redis did not answer (%s)", e)
                return None
            if not claimed:
                self.runs_skipped += 1
                logger.warning("HAMA cycle %s:%d already taken by another process; skipped",
                               coord.timeframe, start_ms)  # fmt: skip
                return None
            cycle_id = f"{coord.timeframe}:{start_ms}"
        try:
            return await self.run_once(list(self.symbols), cycle_id=cycle_id, close_ms=close_ms)
        except RunInProgress:  # a run started through the API or CLI is going
            self.runs_skipped += 1
            logger.warning("HAMA refresh due while another run is going; skipped")
            return None

    async def _adopt(self, coord: Coordination) -> None:
        """Carry on from the shared state: the same timetable, the same counters, and a
        cycle still in progress followed to its end rather than run again."""
        try:
            state = await coord.store.state()
        except CacheUnavailable as e:
            logger.warning("shared schedule unreadable (%s); starting a new timetable", e)
            return
        if not state:
            return
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.runs = max(self.runs, int(state.get("runs", 0)))
            self.runs_skipped = max(self.runs_skipped, int(state.get("runs_skipped", 0)))
            if state.get("last_run") and self.last_run is None:
                self.last_run = RunSummary.from_state(state["last_run"])
                self.last_signal_lag = self.last_run.signal_lag
            if state.get("next_start") is not None:
                self.next_run_at = float(state["next_start"])
                nc, lc = state.get("next_close_ms"), state.get("last_close_ms")
                self.next_close_ms = None if nc is None else int(nc)
                self.last_close_ms = None if lc is None else int(lc)
        current = state.get("current_run")
        if isinstance(current, dict) and current.get("cycle_id"):
            run = RunSummary.from_state(current)
            logger.info("adopting cycle %s, still in progress", run.cycle_id)
            self._run_task = asyncio.create_task(self._follow(coord, run), name="hama-adopted-run")

    async def _follow(self, coord: Coordination, run: RunSummary) -> RunSummary:
        async with self._run_lock:
            self.current_run = run
            try:
                await self._execute_distributed(coord, run, list(self.symbols), adopt=True)
            except PerpwatchError as e:
                logger.warning("adopted cycle %s did not complete: %s", run.cycle_id, e)
            finally:
                self._finish(run)
        return run

    def state(self) -> dict[str, Any]:
        """What the next leader needs, and what every API replica shows as the status."""
        return {
            "status": self.status().model_dump(mode="json"),
            "runs": self.runs,
            "runs_skipped": self.runs_skipped,
            "next_start": self.next_run_at,
            "next_close_ms": self.next_close_ms,
            "last_close_ms": self.last_close_ms,
            "last_run": None if self.last_run is None else self.last_run.to_state(),
            "current_run": None if self.current_run is None else self.current_run.to_state(),
            "leader": None if self._coord is None else self._coord.owner,
            "published_at": self._clock(),
        }

    async def publish_state(self) -> None:
        if self._coord is None:
            return
        self._published_at = time.monotonic()
        try:
            await self._coord.store.save_state(self.state())
        except CacheUnavailable as e:
            logger.debug("shared schedule not written: %s", e)

    def _publish_soon(self) -> None:
        """Publish progress at most every PUBLISH_EVERY_S, without waiting for it."""
        if self._coord is None or time.monotonic() - self._published_at < PUBLISH_EVERY_S:
            return
        if self._publishing:
            return
        self._published_at = time.monotonic()
        task = asyncio.create_task(self.publish_state(), name="hama-publish-state")
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _execute_distributed(
        self, coord: Coordination, run: RunSummary, symbols: list[str], *, adopt: bool = False
    ) -> None:
        counts = CycleCounts()
        assert run.cycle_id is not None

        def on_progress() -> None:
            run.ok, run.failed, run.failures = counts.ok, counts.failed, counts.failures
            run.shards = counts.shards
            self._publish_soon()

        timeout_s = max(60.0, 3 * self.effective_interval_s)
        if adopt:
            await coord.cycles.follow(cycle_id=run.cycle_id, counts=counts, timeout_s=timeout_s,
                                      on_progress=on_progress)  # fmt: skip
        else:
            await coord.cycles.run(cycle_id=run.cycle_id, timeframe=coord.timeframe,
                                   symbols=symbols, leader=coord.owner, counts=counts,
                                   timeout_s=timeout_s, on_progress=on_progress)  # fmt: skip

    async def run_once(
        self,
        symbols: list[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
        cycle_id: str | None = None,
        close_ms: int | None = None,
    ) -> RunSummary:
        """Refresh every symbol once, ``concurrency`` at a time. Raises :class:`RunInProgress`.

        With ``cycle_id`` (a claimed cycle) and coordination, the workers do the work, in
        shards; otherwise this process does."""
        if self._run_lock.locked():
            raise RunInProgress("a HAMA refresh run is already in progress")
        async with self._run_lock:
            if symbols is None:
                await self._ensure_symbols()
                symbols = list(self.symbols)
            run = RunSummary(started=self._clock(), total=len(symbols), cycle_id=cycle_id,
                             close_ms=close_ms)  # fmt: skip
            self.current_run = run
            logger.info("HAMA refresh started: %d symbols", run.total)
            if self._coord is not None and cycle_id is not None:
                await self.publish_state()
                try:
                    await self._execute_distributed(self._coord, run, symbols)
                except PerpwatchError as e:
                    logger.warning("HAMA cycle %s did not complete: %s", cycle_id, e)
                except asyncio.CancelledError:
                    # stopped or deposed: the workers finish the cycle, and the shared
                    # state still names it, so the next leader follows it to its end
                    self.current_run = None
                    raise
                self._finish(run)
                await self.publish_state()
                logger.info("HAMA cycle %s finished: %d ok, %d failed, %.2fs", cycle_id, run.ok,
                            run.failed, run.duration_s or 0.0)  # fmt: skip
                return run
            sem = asyncio.Semaphore(self._concurrency)
            step = max(1, run.total // 10)

            async def one(symbol: str) -> None:
                async with sem:
                    try:
                        await self._service.refresh(symbol)
                        run.ok += 1
                    except PerpwatchError as e:
                        run.failed += 1
                        run.failures[symbol] = str(e)
                        quiet = run.failed > LOGGED_FAILURES or self.consecutive_failed_runs > 0
                        level = logging.DEBUG if quiet else logging.WARNING
                        logger.log(level, "HAMA refresh of %s failed: %s", symbol, e)
                    except Exception:
                        run.failed += 1
                        run.failures.setdefault(symbol, "internal error (see log)")
                        logger.exception("HAMA refresh of %s failed unexpectedly", symbol)
                if progress is not None:
                    progress(run.done, run.total, run.failed)
                if run.done % step == 0 or run.done == run.total:
                    logger.info(
                        "HAMA refresh progress: %d/%d (failed %d)", run.done, run.total, run.failed
                    )

            try:
                await asyncio.gather(*(one(s) for s in symbols))
            finally:
                self._finish(run)
            logger.info(
                "HAMA refresh finished: %d ok, %d failed, %d runs skipped so far, %.2fs",
                run.ok,
                run.failed,
                self.runs_skipped,
                run.duration_s or 0.0,
            )
            return run

    def _finish(self, run: RunSummary) -> None:
        run.finished = self._clock()
        self.current_run = None
        self.last_run = run
        self.runs += 1
        self._count_outcome(run)
        record.refresh_finished(timeframe=self._candles.timeframe, duration_s=run.finished -
                                run.started, ok=run.ok, failed=run.failed)  # fmt: skip

    def _count_outcome(self, run: RunSummary) -> None:
        if run.all_failed:
            self.consecutive_failed_runs += 1  # warned once per outage, then DEBUG
            level = logging.WARNING if self.consecutive_failed_runs == 1 else logging.DEBUG
            logger.log(level, "HAMA refresh failed for every symbol (%d runs in a row): %s",
                       self.consecutive_failed_runs, self.exchange_error)  # fmt: skip
        elif run.ok > 0:
            if self.consecutive_failed_runs:
                logger.info("HAMA refresh works again after %d failed runs",
                            self.consecutive_failed_runs)  # fmt: skip
            self.consecutive_failed_runs, self.last_ok_run_at = 0, run.finished

    def status(self) -> ScheduleStatus:
        return ScheduleStatus(
            running=self.running,
            symbols_count=len(self.symbols),
            symbols=list(self.symbols),
            interval_minutes=round(self.interval_s / 60, 4),
            effective_interval_seconds=round(self.effective_interval_s, 3),
            last_run=None if self.last_run is None else self.last_run.report(),
            current_run=None if self.current_run is None else self.current_run.progress(),
            next_run=None
            if self.next_run_at is None or not self.running
            else iso_s(self.next_run_at),
            runs=self.runs,
            runs_skipped=self.runs_skipped,
            list_error=self.list_error,
            consecutive_failed_runs=self.consecutive_failed_runs,
            last_ok_run=None if self.last_ok_run_at is None else iso_s(self.last_ok_run_at),
            exchange_error=self.exchange_error,
            exchange_state=self._market.exchange_state(),
            timeframes=self.further_status(),
            **self._close_status(),
        )

    def _close_status(self) -> dict[str, Any]:
        c = self._closes
        if c is None:
            return {}
        measured = c.clock.measured_at is not None
        return {
            "timeframe": self._candles.timeframe,
            "candle_close_delay_s": c.delay_s,
            "next_candle_close": None if self.next_close_ms is None else iso_ms(self.next_close_ms),
            "server_time_offset_ms": round(c.clock.offset_s * 1000, 1) if measured else None,
            "signal_lag": self.last_signal_lag,
        }
