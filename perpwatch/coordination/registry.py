"""Which perpwatch processes are alive, and what each does.

Every process writes a small JSON record into one Redis hash every ``heartbeat_s``
(``hama:processes``: field = process id). A record seen within ``3 x heartbeat_s`` is
live; older ones are pruned by whoever lists them. One key, so it works on a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from perpwatch.background import Background
from perpwatch.constants import PROCESSES_KEY
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

logger = logging.getLogger(__name__)

LIVE_HEARTBEATS = 3
PRUNE_AFTER_S = 300.0


def new_process_id(role: str) -> str:
    """``worker-myhost-4242-1a2b3c``: readable in logs, unique by its random tail."""
    host = socket.gethostname().split(".")[0][:32] or "host"
    return f"{role}-{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class ProcessRegistry:
    def __init__(
        self,
        client: RedisClient,
        *,
        process_id: str,
        role: str,
        heartbeat_s: float = 2.0,
        describe: Callable[[], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.process_id = process_id
        self.role = role
        self.heartbeat_s = heartbeat_s
        self._describe = describe or dict
        self._clock = clock
        self._started = clock()
        self._bg = Background("perpwatch-heartbeat")

    def record(self) -> dict[str, Any]:
        return {
            "id": self.process_id,
            "role": self.role,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": round(self._started, 3),
            "seen_at": round(self._clock(), 3),
            **self._describe(),
        }

    async def beat(self) -> None:
        try:
            await self._client.hset(PROCESSES_KEY, self.process_id, json.dumps(self.record()))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"process registry: {e or type(e).__name__}") from e

    def start(self) -> None:
        self._bg.start(self._loop)

    async def stop(self) -> None:
        await self._bg.stop()
        with contextlib.suppress(*REDIS_ERRORS):
            await self._client.hdel(PROCESSES_KEY, self.process_id)

    async def _loop(self) -> None:
        while not self._bg.stopping:
            try:
                await self.beat()
            except CacheUnavailable as e:
                logger.debug("heartbeat not written: %s", e)
            await asyncio.sleep(self.heartbeat_s)

    async def live(self) -> list[dict[str, Any]]:
        """Live processes (any role), oldest first; prunes long-dead records."""
        try:
            raw: dict[Any, Any] = await self._client.hgetall(PROCESSES_KEY)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"process registry: {e or type(e).__name__}") from e
        now = self._clock()
        live: list[dict[str, Any]] = []
        dead: list[bytes] = []
        for field, value in raw.items():
            try:
                rec = json.loads(value)
                seen = float(rec["seen_at"])
            except (ValueError, KeyError, TypeError):
                dead.append(field)
                continue
            if now - seen <= LIVE_HEARTBEATS * self.heartbeat_s:
                live.append(rec)
            elif now - seen > PRUNE_AFTER_S:
                dead.append(field)
        if dead:
            with contextlib.suppress(*REDIS_ERRORS):
                await self._client.hdel(PROCESSES_KEY, *dead)
        live.sort(key=lambda r: (r.get("started_at", 0), r.get("id", "")))
        return live
