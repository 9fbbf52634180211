"""Helpers for the task tests: polling with deadlines and a SAQ worker subprocess."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.models import TaskInfo, TaskStatus
from perpwatch.testing.processes import PerpwatchProcess

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]

# SAQ 0.26 calls redis-py's SETEX, which redis-py 8 marks deprecated; pyproject turns
# warnings into errors, so modules that drive SAQ in this process carry this mark.
SAQ_WARNINGS = pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, f"{what} not met within {timeout_s} s"
        await asyncio.sleep(0.02)


async def wait_status(
    manager: TaskManager, task_id: str, *statuses: TaskStatus, timeout_s: float = 5.0
) -> TaskInfo:
    """Poll ``manager.get`` until the task is in one of ``statuses``; return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        info = await manager.get(task_id)
        if info is not None and info.status in statuses:
            return info
        assert time.monotonic() < deadline, f"task {task_id} not {statuses}: {info}"
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def saq_worker(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PerpwatchProcess]:
    """``python -m tests.tasks.saq.worker_main`` on the shared redis-server, for the module.

    Teardown sends SIGTERM and checks the worker drained and exited cleanly.
    """
    log = tmp_path_factory.mktemp("saq-worker") / "worker.log"
    worker = PerpwatchProcess(
        [redis_server.url],
        module="tests.tasks.saq.worker_main",
        env={"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        log_path=log,
        stop_timeout_s=10,
    )
    with worker:
        yield worker
    assert worker.returncode == 0, worker.log_tail()
    assert "perpwatch worker stopped" in worker.log_text()
