"""Leader election on a :class:`~perpwatch.coordination.lease.RedisLease`.

``SCHEDULER_LEASE_SECONDS`` (L) bounds a takeover: the lease key lives 0.8 L, the leader
renews it every 0.2 L, and every other candidate tries to take it every 0.1 L. So when
a leader dies without a word (SIGKILL, a lost host), its lease ends at most 0.8 L after
its last renewal and a candidate holds it at most 0.1 L later: within L.

A leader steps down at once when a renewal fails -- Redis did not answer, or the lease
is someone else's -- and also, before even trying, when its last good renewal is older
than the key's TTL (its event loop was blocked too long to be sure it still leads). On
shutdown it gives the lease up, so the next leader need not wait for it to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from perpwatch.background import Background
from perpwatch.coordination.lease import RedisLease
from perpwatch.errors import CacheUnavailable

logger = logging.getLogger(__name__)

KEY_TTL_SHARE = 0.8
RENEW_SHARE = 0.2
POLL_SHARE = 0.1

Hook = Callable[[], Awaitable[None]]


def lease_key_ttl_s(lease_s: float) -> float:
    return KEY_TTL_SHARE * lease_s


class LeaderElection:
    def __init__(
        self,
        lease: RedisLease,
        *,
        lease_s: float,
        on_elected: Hook,
        on_deposed: Hook,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self._lease = lease
        self._lease_s = lease_s
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._monotonic = monotonic
        self._clock = clock
        self._bg = Background("perpwatch-election")
        self._renewed_at: float | None = None  # monotonic, while leader
        self.is_leader = False
        self.leader_since: float | None = None  # epoch seconds
        self.terms = 0
        self.last_error: str | None = None

    @property
    def owner(self) -> str:
        return self._lease.owner

    @property
    def lease_s(self) -> float:
        return self._lease_s

    def start(self) -> None:
        self._bg.start(self._campaign)

    async def first_attempt(self) -> None:
        """One try for the lease now (before serving), so that a process that can lead
        says so from its first request; the campaign then goes on in the background."""
        await self._try_acquire()

    async def stop(self) -> None:
        """Stop campaigning; a leader steps down and gives the lease up."""
        await self._bg.stop()
        if self.is_leader:
            await self._step_down("shutting down")
            try:
                await self._lease.release()
            except CacheUnavailable as e:
                logger.warning(
                    "could not give the scheduler lease up (%s); it expires by itself", e
                )

    async def _campaign(self) -> None:
        renew_s = RENEW_SHARE * self._lease_s
        poll_s = POLL_SHARE * self._lease_s
        while not self._bg.stopping:
            if self.is_leader:
                await self._renew()
            else:
                await self._try_acquire()
            await asyncio.sleep(renew_s if self.is_leader else poll_s)

    async def _try_acquire(self) -> None:
        try:
            won = await self._lease.acquire()
        except CacheUnavailable as e:
            self.last_error = str(e)
            return
        if not won:
            return
        self.is_leader = True
        self._renewed_at = self._monotonic()
        self.leader_since = self._clock()
        self.terms += 1
        self.last_error = None
        logger.info("elected scheduler leader (%s)", self._lease.owner)
        try:
            await self._on_elected()
        except Exception:
            logger.exception("starting the scheduler after the election failed; stepping down")
            await self._step_down("start failed")
            with contextlib.suppress(CacheUnavailable):
                await self._lease.release()

    async def _renew(self) -> None:
        renewed_at = self._renewed_at or 0.0
        if self._monotonic() - renewed_at >= lease_key_ttl_s(self._lease_s):
            await self._step_down("the last renewal is older than the lease")
            return
        try:
            ok = await self._lease.renew()
        except CacheUnavailable as e:
            self.last_error = str(e)
            await self._step_down(f"renewal failed: {e}")
            return
        if not ok:
            await self._step_down("the lease is held by another process")
            return
        self._renewed_at = self._monotonic()

    async def _step_down(self, reason: str) -> None:
        if not self.is_leader:
            return
        self.is_leader = False
        self._renewed_at = None
        self.leader_since = None
        logger.warning("stepping down as scheduler leader: %s", reason)
        try:
            await self._on_deposed()
        except Exception:
            logger.exception("stopping the scheduler after stepping down failed")
