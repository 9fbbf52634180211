"""The leader's side of a distributed cycle: split it into shards, queue them, follow the board.

The leader computes nothing itself. It publishes the shards and polls the cycle's board
every ``poll_s`` until every shard is done or failed, keeping the run's counts and the
board's summary current for ``scheduler/status``. A leader that dies mid-cycle leaves
the board and the queue behind: the workers finish the cycle, and the next leader adopts
it (:meth:`DistributedCycles.follow`) rather than start another one on top of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from perpwatch.coordination.shards import ShardQueue, ShardState, split
from perpwatch.errors import CacheUnavailable, DataNotAvailable

logger = logging.getLogger(__name__)

FAILURES_KEPT = 20


class CycleCounts:
    """What the leader knows of a running cycle (written into its run summary)."""

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.failures: dict[str, str] = {}
        self.shards: dict[str, Any] = {}


def summarize(states: dict[int, ShardState]) -> dict[str, Any]:
    """The board as ``scheduler/status`` shows it."""
    by_state = Counter(s.state for s in states.values())
    return {
        "total": len(states),
        "queued": by_state["queued"],
        "running": by_state["running"],
        "done": by_state["done"],
        "failed": by_state["failed"],
        "shards": [
            {
                "index": i,
                "state": s.state,
                "worker": s.worker,
                "symbols": s.symbols,
                "ok": s.ok + s.skipped,
                "failed": s.failed,
                "attempts": s.attempts,
                "duration_s": None
                if s.started is None or s.finished is None
                else round(s.finished - s.started, 3),
            }
            for i, s in sorted(states.items())
        ],
    }


def count(states: dict[int, ShardState], into: CycleCounts) -> None:
    into.ok = sum(s.ok + s.skipped for s in states.values())
    into.failed = sum(s.failed for s in states.values())
    failures: dict[str, str] = {}
    for _, s in sorted(states.items()):
        for symbol, reason in s.failures.items():
            if len(failures) < FAILURES_KEPT:
                failures[symbol] = reason
    into.failures = failures
    into.shards = summarize(states)


class DistributedCycles:
    def __init__(
        self,
        queue: ShardQueue,
        *,
        shard_size: int,
        poll_s: float = 0.2,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._queue = queue
        self._shard_size = shard_size
        self._poll_s = poll_s
        self._monotonic = monotonic

    async def run(
        self,
        *,
        cycle_id: str,
        timeframe: str,
        symbols: list[str],
        leader: str,
        counts: CycleCounts,
        timeout_s: float,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        shards = split(symbols, self._shard_size)
        meta = {"cycle_id": cycle_id, "timeframe": timeframe, "leader": leader,
                "symbols": len(symbols), "published_at": time.time()}  # fmt: skip
        await self._queue.publish(cycle_id=cycle_id, timeframe=timeframe, shards=shards, meta=meta)
        logger.info("cycle %s: %d symbols in %d shards queued", cycle_id, len(symbols), len(shards))
        await self.follow(cycle_id=cycle_id, counts=counts, timeout_s=timeout_s,
                          on_progress=on_progress)  # fmt: skip

    async def follow(
        self,
        *,
        cycle_id: str,
        counts: CycleCounts,
        timeout_s: float,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        """Wait until every shard of ``cycle_id`` is done or failed (or ``timeout_s``)."""
        deadline = self._monotonic() + timeout_s
        while True:
            try:
                meta, states = await self._queue.board(cycle_id)
            except CacheUnavailable as e:
                if self._monotonic() >= deadline:
                    raise DataNotAvailable(f"cycle {cycle_id}: board unreadable: {e}") from e
                await asyncio.sleep(self._poll_s)
                continue
            if meta is None:
                raise DataNotAvailable(f"cycle {cycle_id}: its board is gone")
            count(states, counts)
            if on_progress is not None:
                on_progress()
            if all(s.state in ("done", "failed") for s in states.values()):
                return
            if self._monotonic() >= deadline:
                raise DataNotAvailable(
                    f"cycle {cycle_id} not complete after {timeout_s:.0f}s "
                    f"({counts.shards.get('done', 0)}/{counts.shards.get('total', 0)} shards done)"
                )
            await asyncio.sleep(self._poll_s)
