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
from perpwatch.errors import PerpwatchError
from perpwatch.market.base import MarketData
from perpwatch.market.candle_store import CandleStore
from perpwatch.scheduler.timing import effective_period_s
from perpwatch.scheduler.watchlist import resolve_watchlist
from perpwatch.timeutil import iso_s

logger = logging.getLogger(__name__)

LIST_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
LOGGED_FAILURES = 5  # per-symbol warnings in a run (none during an outage); the rest DEBUG

ProgressCallback = Callable[[int, int, int], None]  # done, total, failed


@dataclass(slots=True)
class RunSummary:
    started: float
    total: int
    finished: float | None = None
    ok: int = 0
    failed: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # every failed symbol: reason

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def all_failed(self) -> bool:
        return self.total > 0 and self.ok == 0 and self.failed > 0

    @property
    def duration_s(self) -> float | None:
        return None if self.finished is None else round(self.finished - self.started, 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started": iso_s(self.started),
            "finished": None if self.finished is None else iso_s(self.finished),
            "total": self.total,
            "ok": self.ok,
            "failed": self.failed,
            "duration_s": self.duration_s,
            "failures": dict(self.failures),
        }


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
    ) -> None:
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
        self, *, symbols: list[str] | None = None, interval_s: float | None = None
    ) -> None:
        """Start (or restart with new settings); the first run begins at once, in the background."""
        await self.stop()
        if symbols is not None:
            self._explicit = list(symbols)
            self.symbols = list(symbols)
            self._candles.retain_only(set(symbols))
        if interval_s is not None:
            self.interval_s = interval_s
        self.next_run_at = None
        self._loop_task = asyncio.create_task(self._loop(), name="hama-scheduler")
        logger.info("HAMA scheduler started (interval %.1f min)", self.interval_s / 60)

    async def stop(self) -> None:
        tasks = [t for t in (self._loop_task, self._run_task) if t is not None and not t.done()]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if tasks:
            logger.info("HAMA scheduler stopped")
        self._loop_task = None
        self._run_task = None
        self.next_run_at = None

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
        while True:
            now = self._clock()
            if self.next_run_at is None or now >= self.next_run_at:
                if self._run_task is not None and not self._run_task.done():
                    self.runs_skipped += 1
                    logger.warning(
                        "HAMA refresh due but the previous run is still going (%d/%d); skipped",
                        self.current_run.done if self.current_run else 0,
                        len(self.symbols),
                    )
                else:
                    self._run_task = asyncio.create_task(
                        self._scheduled_run(), name="hama-refresh-run"
                    )
                self.next_run_at = now + self.effective_interval_s
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), timeout=max(0.0, self.next_run_at - self._clock())
                )

    async def _scheduled_run(self) -> RunSummary | None:
        try:
            return await self.run_once(list(self.symbols))
        except RunInProgress:  # a run started through the API or CLI is going
            self.runs_skipped += 1
            logger.warning("HAMA refresh due while another run is going; skipped")
            return None

    async def run_once(
        self, symbols: list[str] | None = None, *, progress: ProgressCallback | None = None
    ) -> RunSummary:
        """Refresh every symbol once, ``concurrency`` at a time. Raises :class:`RunInProgress`."""
        if self._run_lock.locked():
            raise RunInProgress("a HAMA refresh run is already in progress")
        async with self._run_lock:
            if symbols is None:
                await self._ensure_symbols()
                symbols = list(self.symbols)
            run = RunSummary(started=self._clock(), total=len(symbols))
            self.current_run = run
            logger.info("HAMA refresh started: %d symbols", run.total)
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
                run.finished = self._clock()
                self.current_run = None
                self.last_run = run
                self.runs += 1
                self._count_outcome(run)
            logger.info(
                "HAMA refresh finished: %d ok, %d failed, %d runs skipped so far, %.2fs",
                run.ok,
                run.failed,
                self.runs_skipped,
                run.duration_s or 0.0,
            )
            return run

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

    def status(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "symbols_count": len(self.symbols),
            "symbols": list(self.symbols),
            "interval_minutes": round(self.interval_s / 60, 4),
            "effective_interval_seconds": round(self.effective_interval_s, 3),
            "last_run": None if self.last_run is None else self.last_run.as_dict(),
            "current_run": None
            if self.current_run is None
            else {
                "done": self.current_run.done,
                "total": self.current_run.total,
                "failed": self.current_run.failed,
                "started": iso_s(self.current_run.started),
            },
            "next_run": None
            if self.next_run_at is None or not self.running
            else iso_s(self.next_run_at),
            "runs": self.runs,
            "runs_skipped": self.runs_skipped,
            "list_error": self.list_error,
            "consecutive_failed_runs": self.consecutive_failed_runs,
            "last_ok_run": None if self.last_ok_run_at is None else iso_s(self.last_ok_run_at),
            "exchange_error": self.exchange_error,
        }
