"""FallbackTaskManager: tasks still run, and stay answerable, while Redis is down."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from perpwatch.tasks.errors import TaskBackendUnavailable
from perpwatch.tasks.fallback import FallbackTaskManager
from perpwatch.tasks.inprocess import InProcessTaskManager
from perpwatch.tasks.saq.backend import SaqTaskManager
from tests.tasks.conftest import SAQ_WARNINGS, wait_status
from tests.tasks.ops import Probe, build_registry

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

pytestmark = SAQ_WARNINGS
LOGGER = "perpwatch.tasks.fallback"


@pytest.fixture
async def manager(fresh_redis_server: RedisServer) -> AsyncIterator[FallbackTaskManager]:
    registry, probe = build_registry(), Probe()
    primary = SaqTaskManager(
        redis_url=fresh_redis_server.url,
        registry=registry,
        ctx=probe,
        result_ttl_s=60,
        default_timeout_s=30,
        local_worker=True,
        socket_timeout_s=0.2,
    )
    local = InProcessTaskManager(
        registry=registry,
        ctx=probe,
        max_workers=2,
        result_ttl_s=60,
        default_timeout_s=30,
        id_prefix="local-",
    )
    m = FallbackTaskManager(primary, local, retry_interval_s=0.1)
    yield m
    await m.close()


def fallback_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING
    ]


async def test_redis_down_at_submit_runs_in_process(
    manager: FallbackTaskManager,
    fresh_redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fresh_redis_server.stop()
    caplog.set_level(logging.INFO, logger="perpwatch.tasks")
    await manager.start()  # starting does not need Redis
    first = await manager.submit("echo", {"n": 1})
    assert first.task.backend == "inprocess" and first.task.id.startswith("local-")
    done = await wait_status(manager, first.task.id, "completed")
    assert done.result == {"echo": {"n": 1}}
    second = await manager.submit("echo", {"n": 2})
    assert second.task.backend == "inprocess"
    dup = await manager.submit("sleep", {"seconds": 0.3})
    assert (await manager.submit("sleep", {"seconds": 0.3})).task.id == dup.task.id

    warnings = fallback_warnings(caplog)
    assert len(warnings) == 1  # once per outage, not per task
    assert "unavailable" in warnings[0] and "in-process" in warnings[0]
    per_task = [r.getMessage() for r in caplog.records if first.task.id in r.getMessage()]
    assert per_task == [f"task {first.task.id} (echo) runs in-process: task backend unavailable"]
    assert manager.stats()["fallback_active"] is True
    assert {t.id for t in await manager.list()} >= {first.task.id, second.task.id}
    with pytest.raises(TaskBackendUnavailable):
        await manager.get("echo-0123456789abcdef0123456789abcdef")  # can't know: 503


async def test_back_to_saq_when_redis_returns(
    manager: FallbackTaskManager,
    fresh_redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fresh_redis_server.stop()
    await manager.start()
    local = await manager.submit("echo", {"when": "down"})
    assert local.task.backend == "inprocess"
    fresh_redis_server.start()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        await wait_status(manager, local.task.id, "completed")
        remote = None
        for _ in range(50):  # the fallback retries Redis at most every 0.1 s
            res = await manager.submit("echo", {"when": "up"})
            if res.task.backend == "saq":
                remote = res
                break
            await wait_status(manager, res.task.id, "completed")
    assert remote is not None and not remote.task.id.startswith("local-")
    assert any("available again" in m for m in fallback_warnings(caplog))
    # the in-app SAQ worker, which started while Redis was down, runs it
    done = await wait_status(manager, remote.task.id, "completed", timeout_s=10)
    assert done.result == {"echo": {"when": "up"}} and done.backend == "saq"
    assert (await manager.get(local.task.id)).status == "completed"  # type: ignore[union-attr]
    assert manager.stats()["fallback_active"] is False
