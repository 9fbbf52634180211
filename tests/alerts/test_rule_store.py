"""The rule store's generation, on a real Redis and in memory: every stored change raises
it, for every process that shares the Redis, so an evaluator never judges an event
published after a change with the rules from before it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from perpwatch.alerts.store import RuleStore, TooManyRules
from perpwatch.redis_client import close_redis, open_redis
from tests.alerts.helpers import stored, webhook

HOOK = webhook("https://hooks.example.com/x")


@pytest.fixture(params=["redis", "memory"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[RuleStore, RuleStore]]:
    """Two stores as two processes see them (in memory: one process, one store)."""
    if request.param == "memory":
        store = RuleStore(None, max_rules=2)
        yield store, store
        return
    url = request.getfixturevalue("redis_url")
    a, b = open_redis(url, socket_timeout_s=2.0), open_redis(url, socket_timeout_s=2.0)
    await a.delete("hama:alerts:rules", "hama:alerts:rules:generation")
    yield RuleStore(a, max_rules=2), RuleStore(b, max_rules=2)
    await a.delete("hama:alerts:rules", "hama:alerts:rules:generation")
    await close_redis(a)
    await close_redis(b)


async def test_every_change_raises_the_generation_for_every_reader(
    stores: tuple[RuleStore, RuleStore],
) -> None:
    writer, reader = stores
    g0 = await reader.generation()
    assert g0 is not None
    await writer.add(stored("r1", HOOK))
    g1 = await reader.generation()
    assert g1 is not None and g1 > g0
    assert [r.id for r in await reader.all()] == ["r1"]
    await writer.add(stored("r2", HOOK))
    with pytest.raises(TooManyRules):  # refused: nothing changed
        await writer.add(stored("r3", HOOK))
    g2 = await reader.generation()
    assert g2 is not None and g2 > g1
    assert await reader.generation() == g2  # unchanged while nothing changes
    assert await writer.delete("r1") is True
    g3 = await reader.generation()
    assert g3 is not None and g3 > g2
    assert await writer.delete("r1") is False  # nothing removed: no change
    assert await reader.generation() == g3
    assert [r.id for r in await reader.all()] == ["r2"]
