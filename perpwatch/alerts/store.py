"""Alert rules in Redis (the hash ``hama:alerts:rules``), so every replica sees the same
rules; in memory with ``REDIS_ENABLED=false``.

While Redis does not answer, reads are served from the last rules this process read
(logged once per outage), so evaluation goes on with them; changes are refused (503)
rather than kept in one process's memory, where the other replicas would never see them.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from perpwatch.alerts.rules import StoredRule
from perpwatch.constants import ALERT_RULES_GENERATION_KEY, ALERT_RULES_KEY
from perpwatch.errors import CacheUnavailable
from perpwatch.redis_client import REDIS_ERRORS, RedisClient

logger = logging.getLogger(__name__)

_ADD = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class TooManyRules(Exception):
    pass


def _parse(raw: bytes | str) -> StoredRule | None:
    try:
        return StoredRule.model_validate_json(raw)
    except ValidationError:
        logger.warning("ignoring a malformed alert rule in %s", ALERT_RULES_KEY)
        return None


class RuleStore:
    def __init__(self, client: RedisClient | None, *, max_rules: int) -> None:
        self._client = client
        self._max = max_rules
        self._rules: dict[str, StoredRule] = {}  # the last read (or, without Redis, all)
        self._down = False
        self._add = client.register_script(_ADD) if client is not None else None
        self._generation = 0  # without Redis: this process's own count of changes

    async def generation(self) -> int | None:
        """A number that changes after every change of the rules, by any process (None:
        not known now). A reader that saw a number and sees it again has the rules of the
        moment it first saw it, or newer."""
        if self._client is None:
            return self._generation
        try:
            raw: Any = await self._client.get(ALERT_RULES_GENERATION_KEY)
        except REDIS_ERRORS:
            return None
        return int(raw) if raw is not None else 0

    async def _changed(self) -> None:
        """Raise the generation, after a change is stored and before it is answered, so
        that every event published after the answer is evaluated with the change."""
        if self._client is None:
            self._generation += 1
            return
        try:
            await self._client.incr(ALERT_RULES_GENERATION_KEY)
        except REDIS_ERRORS as e:  # stored all the same: read within RULES_MAX_REUSE_S
            logger.warning("alert rules changed but their generation was not raised: %s", e)

    def _outage(self, e: BaseException) -> None:
        if not self._down:
            logger.warning("alert rules unreadable in Redis (%s); using the last ones read", e)
        self._down = True

    async def all(self) -> list[StoredRule]:
        """Every rule, oldest first."""
        if self._client is not None:
            try:
                raw: Any = await self._client.hgetall(ALERT_RULES_KEY)
            except REDIS_ERRORS as e:
                self._outage(e)
            else:
                if self._down:
                    logger.info("alert rules readable in Redis again")
                self._down = False
                parsed = (_parse(v) for v in raw.values())
                self._rules = {r.id: r for r in parsed if r is not None}
        return sorted(self._rules.values(), key=lambda r: (r.created_at_ms, r.id))

    async def get(self, rule_id: str) -> StoredRule | None:
        if self._client is None:
            return self._rules.get(rule_id)
        try:
            raw: Any = await self._client.hget(ALERT_RULES_KEY, rule_id)
        except REDIS_ERRORS as e:
            self._outage(e)
            return self._rules.get(rule_id)
        return None if raw is None else _parse(raw)

    async def add(self, rule: StoredRule) -> None:
        """TooManyRules past ``ALERT_MAX_RULES``; CacheUnavailable while Redis is down."""
        if self._add is None:
            if len(self._rules) >= self._max:
                raise TooManyRules
            self._rules[rule.id] = rule
            await self._changed()
            return
        try:
            added: Any = await self._add(
                keys=[ALERT_RULES_KEY], args=[rule.id, rule.stored_json(), self._max]
            )
        except REDIS_ERRORS as e:
            raise CacheUnavailable(f"alert rule not stored: {e}") from e
        if not added:
            raise TooManyRules
        self._rules[rule.id] = rule
        await self._changed()

    async def delete(self, rule_id: str) -> bool:
        if self._client is None:
            removed: Any = self._rules.pop(rule_id, None) is not None
        else:
            try:
                removed = await self._client.hdel(ALERT_RULES_KEY, rule_id)
            except REDIS_ERRORS as e:
                raise CacheUnavailable(f"alert rule not deleted: {e}") from e
            self._rules.pop(rule_id, None)
        if removed:
            await self._changed()
        return bool(removed)
