"""The schedule's shared state in Redis, so that any leader carries on where the last left off.

* ``hama:scheduler:state`` (JSON): what the leader publishes -- its status (the body of
  ``scheduler/status``), the next cycle's start, and the cycle in progress. A new leader
  reads it and keeps the same timetable (and adopts a cycle still in progress), so a
  takeover neither runs a cycle early nor lets the cache go cold.
* ``hama:cycle:<tf>:<start ms>``: taken with ``SET NX`` by whoever runs that cycle. Two
  processes that both believe they lead compute the same start from the same state, so
  only one of them runs it.
* ``hama:scheduler:control`` (JSON): a start or stop asked for through any API replica;
  the leader applies each new ``generation`` once.
* ``hama:symbols:listed`` (JSON list): every listed perpetual, written by the leader, so
  an API replica can validate symbols without an exchange client.
* ``hama:refresh_errors`` (hash): the last failed refresh of each symbol, so an API
  replica can mark a served value stale; a symbol's entry goes when it refreshes again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from perpwatch.constants import (
    REFRESH_ERRORS_KEY,
    SCHEDULER_CONTROL_KEY,
    SCHEDULER_STATE_KEY,
    SYMBOL_UNIVERSE_KEY,
    cycle_claim_key,
)
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

logger = logging.getLogger(__name__)

STATE_TTL_S = 7 * 86400
MAX_ERROR_TEXT = 300


def _edge(what: str, e: BaseException) -> CacheUnavailable:
    return CacheUnavailable(f"schedule store {what}: {e or type(e).__name__}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class ScheduleStore:
    def __init__(self, client: RedisClient) -> None:
        self._client = client

    async def _get_json(self, key: str) -> Any:
        try:
            raw = await self._client.get(key)
        except REDIS_ERRORS as e:
            raise _edge(f"GET {key}", e) from e
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            logger.warning("ignoring a malformed value at %s", key)
            return None

    async def _set_json(self, key: str, value: Any, *, ttl_s: float = STATE_TTL_S) -> None:
        try:
            await self._client.set(key, _dumps(value), px=max(1, round(ttl_s * 1000)))
        except REDIS_ERRORS as e:
            raise _edge(f"SET {key}", e) from e

    # --- state and control ---------------------------------------------------------

    async def state(self) -> dict[str, Any] | None:
        value = await self._get_json(SCHEDULER_STATE_KEY)
        return value if isinstance(value, dict) else None

    async def save_state(self, state: dict[str, Any]) -> None:
        await self._set_json(SCHEDULER_STATE_KEY, state)

    async def control(self) -> dict[str, Any] | None:
        value = await self._get_json(SCHEDULER_CONTROL_KEY)
        return value if isinstance(value, dict) else None

    async def save_control(self, control: dict[str, Any]) -> None:
        await self._set_json(SCHEDULER_CONTROL_KEY, control)

    async def claim_cycle(self, timeframe: str, start_ms: int, *, owner: str, ttl_s: float) -> bool:
        """``True`` for exactly one caller per (timeframe, start)."""
        try:
            taken = await self._client.set(
                cycle_claim_key(timeframe, start_ms),
                owner,
                nx=True,
                px=max(1000, round(ttl_s * 1000)),
            )
        except REDIS_ERRORS as e:
            raise _edge("cycle claim", e) from e
        return bool(taken)

    # --- listed symbols --------------------------------------------------------------

    async def listed(self) -> list[str] | None:
        value = await self._get_json(SYMBOL_UNIVERSE_KEY)
        if isinstance(value, list) and all(isinstance(s, str) for s in value):
            return value
        return None

    async def save_listed(self, symbols: list[str], *, ttl_s: float) -> None:
        await self._set_json(SYMBOL_UNIVERSE_KEY, symbols, ttl_s=ttl_s)

    # --- refresh errors ----------------------------------------------------------------

    async def record_errors(self, errors: dict[str, tuple[float, str]]) -> None:
        if not errors:
            return
        mapping = {
            s: _dumps({"at": at, "message": msg[:MAX_ERROR_TEXT]})
            for s, (at, msg) in errors.items()
        }
        try:
            await self._client.hset(REFRESH_ERRORS_KEY, mapping=dict[Any, Any](mapping))
        except REDIS_ERRORS as e:
            raise _edge("record errors", e) from e

    async def clear_errors(self, symbols: Iterable[str]) -> None:
        names = list(symbols)
        if not names:
            return
        try:
            await self._client.hdel(REFRESH_ERRORS_KEY, *names)
        except REDIS_ERRORS as e:
            raise _edge("clear errors", e) from e

    async def errors(self) -> dict[str, tuple[float, str]]:
        try:
            raw: dict[Any, Any] = await self._client.hgetall(REFRESH_ERRORS_KEY)
        except REDIS_ERRORS as e:
            raise _edge("errors", e) from e
        out: dict[str, tuple[float, str]] = {}
        for k, v in raw.items():
            try:
                rec = json.loads(v)
                out[k.decode()] = (float(rec["at"]), str(rec["message"]))
            except (ValueError, KeyError, TypeError):
                continue
        return out
