"""``scheduler/start`` and ``/stop`` from any API replica, carried out by the leader.

An API-only process cannot run the schedule, so it writes what was asked to
``hama:scheduler:control`` with a new ``generation``. The leader reads it every
``poll_s`` and applies each generation once; a newly elected leader applies the latest
one first, so a stop survives a change of leader. The leader also publishes the list of
every listed perpetual (``hama:symbols:listed``) so that a replica can check the symbols
of a start without an exchange client of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from perpwatch.background import Background
from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.errors import CacheUnavailable, DataNotAvailable, PerpwatchError, UnknownSymbol
from perpwatch.market.base import MarketData
from perpwatch.scheduler.hama_scheduler import HamaScheduler

logger = logging.getLogger(__name__)

LISTED_EVERY_S = 600.0
LISTED_TTL_S = 3 * 3600.0


async def request(
    store: ScheduleStore,
    *,
    running: bool,
    symbols: list[str] | None = None,
    interval_s: float | None = None,
) -> dict[str, Any]:
    """Ask the leader to start (with these settings) or stop the schedule."""
    control = {"generation": time.time_ns(), "running": running, "symbols": symbols,
               "interval_s": interval_s, "asked_at": time.time()}  # fmt: skip
    await store.save_control(control)
    return control


async def check_listed(store: ScheduleStore, symbols: list[str]) -> list[str]:
    """``symbols`` if every one is listed (as the leader last saw the exchange);
    :class:`UnknownSymbol` names the others."""
    try:
        listed = await store.listed()
    except CacheUnavailable as e:
        raise DataNotAvailable(f"the list of contracts is unreadable: {e}") from e
    if listed is None:
        raise DataNotAvailable("the list of contracts is not known yet (no leader has listed it)")
    known = set(listed)
    unknown = [s for s in symbols if s not in known]
    if unknown:
        raise UnknownSymbol(", ".join(unknown[:10]))
    return symbols


class ControlWatcher:
    def __init__(
        self,
        *,
        store: ScheduleStore,
        scheduler: HamaScheduler,
        market: MarketData,
        is_leader: Callable[[], bool],
        poll_s: float = 1.0,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._market = market
        self._is_leader = is_leader
        self._poll_s = poll_s
        self._applied: int | None = None
        self._next_listed_at = 0.0  # monotonic; due at once
        self._bg = Background("perpwatch-control")

    async def on_elected(self) -> None:
        """Start the schedule as the latest request says (running unless it says stop)."""
        control = await self._read()
        self._applied = None if control is None else int(control.get("generation", 0))
        if control is not None and control.get("running") is False:
            logger.info("the schedule stays stopped, as asked through the API")
            return
        symbols, interval_s = _settings_of(control)
        await self._scheduler.start(symbols=symbols, interval_s=interval_s, aligned=True)

    def start(self) -> None:
        self._bg.start(self._loop)

    async def stop(self) -> None:
        await self._bg.stop()

    async def _read(self) -> dict[str, Any] | None:
        try:
            return await self._store.control()
        except CacheUnavailable as e:
            logger.debug("scheduler control unreadable: %s", e)
            return None

    async def _loop(self) -> None:
        while not self._bg.stopping:
            await asyncio.sleep(self._poll_s)
            if not self._is_leader():
                continue
            await self._publish_listed()
            control = await self._read()
            if control is None or int(control.get("generation", 0)) == self._applied:
                continue
            self._applied = int(control.get("generation", 0))
            try:
                if control.get("running") is False:
                    logger.info("stopping the schedule, as asked through the API")
                    await self._scheduler.stop()
                else:
                    symbols, interval_s = _settings_of(control)
                    logger.info("restarting the schedule, as asked through the API")
                    await self._scheduler.start(symbols=symbols, interval_s=interval_s)
            except PerpwatchError as e:
                logger.warning("could not apply the scheduler request: %s", e)

    async def _publish_listed(self) -> None:
        if time.monotonic() < self._next_listed_at:
            return
        try:
            contracts = await self._market.list_perpetuals()
            await self._store.save_listed([c.symbol for c in contracts], ttl_s=LISTED_TTL_S)
        except PerpwatchError as e:
            logger.debug("listed symbols not published: %s", e)
            return
        self._next_listed_at = time.monotonic() + LISTED_EVERY_S


def _settings_of(control: dict[str, Any] | None) -> tuple[list[str] | None, float | None]:
    if control is None:
        return None, None
    symbols = control.get("symbols")
    interval = control.get("interval_s")
    ok_symbols = symbols if isinstance(symbols, list) and symbols else None
    ok_interval = float(interval) if isinstance(interval, int | float) and interval > 0 else None
    return ok_symbols, ok_interval
