"""What evaluation remembers between events, shared through Redis so that a new leader
goes on where the old one stopped: the last bus event evaluated per channel
(``hama:alerts:pos:{channel}``), and the last sign of each funding rate per exchange
(``hama:alerts:funding_sign:{exchange}``, a hash), so a leader change neither loses nor
fakes a sign flip. In memory without Redis."""

from __future__ import annotations

from typing import Any

from perpwatch.constants import alert_position_key, funding_sign_key
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

SIGNS_TTL_S = 7 * 86400  # an exchange not seen for a week starts over


class EvaluationState:
    def __init__(self, client: RedisClient | None) -> None:
        self._client = client
        self._positions: dict[str, int] = {}
        self._signs: dict[str, dict[str, int]] = {}

    async def position(self, channel: str) -> int | None:
        if self._client is None:
            return self._positions.get(channel)
        try:
            raw: Any = await self._client.get(alert_position_key(channel))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"alert position unreadable: {e}") from e
        return int(raw) if raw else None

    async def save_position(self, channel: str, seq: int) -> None:
        if self._client is None:
            self._positions[channel] = seq
            return
        try:
            await self._client.set(alert_position_key(channel), seq)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"alert position not saved: {e}") from e

    async def signs(self, exchange: str) -> dict[str, int]:
        if self._client is None:
            return dict(self._signs.get(exchange, {}))
        try:
            raw: Any = await self._client.hgetall(funding_sign_key(exchange))
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"funding signs unreadable: {e}") from e
        return {k.decode(): int(v) for k, v in raw.items()}

    async def save_signs(self, exchange: str, changed: dict[str, int]) -> None:
        if not changed:
            return
        if self._client is None:
            self._signs.setdefault(exchange, {}).update(changed)
            return
        key = funding_sign_key(exchange)
        try:
            await self._client.hset(key, mapping=changed)  # type: ignore[arg-type]
            await self._client.expire(key, SIGNS_TTL_S)
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"funding signs not saved: {e}") from e
