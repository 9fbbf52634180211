"""The worker's side of a distributed cycle: take shards, refresh their symbols, report.

A worker runs ``slots`` shards at once (each refreshing up to ``concurrency`` symbols at
a time) and, every ``reclaim_after_s / 2``, takes over shards whose worker stopped
touching them for ``reclaim_after_s`` (it died). A shard taken over for the
:data:`~perpwatch.coordination.shards.MAX_ATTEMPTS`-th time without being finished is
marked failed instead, so a shard that kills its workers cannot stall every cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.coordination.shards import (
    BOARD_FAILURES_KEPT,
    MAX_ATTEMPTS,
    ShardJob,
    ShardQueue,
    ShardState,
)
from perpwatch.errors import CacheUnavailable, PerpwatchError

logger = logging.getLogger(__name__)

Outcome = Literal["ok", "skipped"]
# refresh(symbol, cycle_id) -> "ok", or "skipped" when this cycle already computed it
RefreshOne = Callable[[str, str], Awaitable[Outcome]]

BLOCK_MS = 1000
RETRY_AFTER_ERROR_S = 1.0


class ShardConsumer:
    def __init__(
        self,
        *,
        queue: ShardQueue,
        store: ScheduleStore,
        refresh: RefreshOne,
        consumer_id: str,
        slots: int = 2,
        concurrency: int = 16,
        touch_s: float = 1.0,
        reclaim_after_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if touch_s * 2 > reclaim_after_s:
            raise ValueError("reclaim_after_s must be at least twice touch_s")
        self._queue = queue
        self._store = store
        self._refresh = refresh
        self.consumer_id = consumer_id
        self._slots = slots
        self._concurrency = concurrency
        self._touch_s = touch_s
        self._reclaim_ms = round(reclaim_after_s * 1000)
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._free = asyncio.Semaphore(slots)
        self.running: dict[str, ShardJob] = {}  # entry id -> job
        self.shards_done = 0
        self.shards_reclaimed = 0
        self.symbols_refreshed = 0

    def describe(self) -> dict[str, object]:
        return {
            "shards_running": [f"{j.cycle_id}#{j.index}" for j in self.running.values()],
            "shards_done": self.shards_done,
            "shards_reclaimed": self.shards_reclaimed,
            "symbols_refreshed": self.symbols_refreshed,
        }

    def start(self) -> None:
        if not self._tasks:
            self._spawn(self._loop(), "perpwatch-shards")

    async def stop(self) -> None:
        """Stop at once; an unfinished shard stays pending and another worker redoes it."""
        self._stopping = True  # as well as the cancel: see HamaScheduler.stop
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        """With a slot free: first a dead worker's shard (checked every half reclaim
        period), else the next new one."""
        next_reclaim = 0.0
        while not self._stopping:
            await self._free.acquire()
            try:
                job: ShardJob | None = None
                if time.monotonic() >= next_reclaim:
                    next_reclaim = time.monotonic() + self._reclaim_ms / 2000
                    reclaimed = await self._queue.reclaim(
                        self.consumer_id, min_idle_ms=self._reclaim_ms
                    )
                    if reclaimed:
                        job = reclaimed[0]
                        self.shards_reclaimed += 1
                        logger.warning(
                            "taking over shard %d of cycle %s: its worker stopped working on it",
                            job.index,
                            job.cycle_id,
                        )
                if job is None:
                    block_ms = min(BLOCK_MS, self._reclaim_ms // 2)
                    job = await self._queue.take(self.consumer_id, block_ms=block_ms)
            except Exception as e:  # any, or this worker takes no shard again (Redis's
                # errors come as CacheUnavailable; a surprise must not end the loop either)
                self._free.release()
                if isinstance(e, CacheUnavailable):
                    logger.debug("taking a shard failed: %s", e)
                else:
                    logger.warning("taking a shard failed unexpectedly; retrying", exc_info=True)
                await asyncio.sleep(RETRY_AFTER_ERROR_S)
                continue
            except BaseException:
                self._free.release()
                raise
            if job is None:
                self._free.release()
                continue
            self._spawn(self._run_released(job), f"perpwatch-shard-{job.index}")

    async def _run_released(self, job: ShardJob) -> None:
        self.running[job.entry_id] = job
        try:
            await self.run(job)
        except CacheUnavailable as e:
            logger.warning("shard %d of %s not finished: %s", job.index, job.cycle_id, e)
        except Exception:
            logger.exception("shard %d of %s failed unexpectedly", job.index, job.cycle_id)
        finally:
            self.running.pop(job.entry_id, None)
            self._free.release()

    async def run(self, job: ShardJob) -> None:
        """Refresh one shard's symbols and report on the cycle's board."""
        prior = await self._queue.state(job)
        if prior is not None and prior.state in ("done", "failed"):
            await self._queue.finish(job)  # finished, but its worker died before the ack
            return
        attempts = (prior.attempts if prior is not None else 0) + 1
        state = ShardState(
            "running", len(job.symbols), self.consumer_id, attempts, started=self._clock()
        )
        if attempts > MAX_ATTEMPTS:
            state.state, state.finished = "failed", self._clock()
            state.failures = {"*": f"given up after {MAX_ATTEMPTS} attempts"}
            await self._queue.set_state(job, state)
            await self._queue.finish(job)
            return
        if not await self._queue.set_state(job, state):
            await self._queue.finish(job)  # the cycle is long gone: nothing to do
            return
        finished = asyncio.Event()
        toucher = asyncio.create_task(self._touch(job, finished), name="perpwatch-shard-touch")
        try:
            errors = await self._refresh_all(job, state)
        finally:
            finished.set()  # ends the toucher after its current round trip, if any
            with contextlib.suppress(asyncio.CancelledError):
                await toucher
        state.state, state.finished = "done", self._clock()
        await self._report_errors(job, errors)
        await self._queue.set_state(job, state)
        await self._queue.finish(job)
        self.shards_done += 1

    async def _refresh_all(self, job: ShardJob, state: ShardState) -> dict[str, tuple[float, str]]:
        sem = asyncio.Semaphore(self._concurrency)
        errors: dict[str, tuple[float, str]] = {}

        async def one(symbol: str) -> None:
            async with sem:
                try:
                    outcome = await self._refresh(symbol, job.cycle_id)
                except PerpwatchError as e:
                    message = str(e)
                except Exception as e:
                    logger.exception("refresh of %s failed unexpectedly", symbol)
                    message = f"internal error ({type(e).__name__})"
                else:
                    if outcome == "skipped":
                        state.skipped += 1
                    else:
                        state.ok += 1
                        self.symbols_refreshed += 1
                    return
            state.failed += 1
            errors[symbol] = (self._clock(), message)
            if len(state.failures) < BOARD_FAILURES_KEPT:
                state.failures[symbol] = message

        await asyncio.gather(*(one(s) for s in job.symbols))
        return errors

    async def _report_errors(self, job: ShardJob, errors: dict[str, tuple[float, str]]) -> None:
        try:
            await self._store.clear_errors(s for s in job.symbols if s not in errors)
            await self._store.record_errors(errors)
        except CacheUnavailable as e:
            logger.debug("refresh errors not recorded: %s", e)

    async def _touch(self, job: ShardJob, finished: asyncio.Event) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._touch_s):
                    await finished.wait()
            if finished.is_set():
                return
            try:
                if not await self._queue.touch(self.consumer_id, job.entry_id):
                    logger.warning(
                        "shard %d of %s was taken over by another worker", job.index, job.cycle_id
                    )
                    return
            except CacheUnavailable as e:
                logger.debug("touching shard %d failed: %s", job.index, e)
