"""Helpers for the task tests: polling with deadlines and a SAQ worker subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.models import TaskInfo, TaskStatus

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


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def saq_worker(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """``python -m tests.tasks.saq.worker_main`` on the shared redis-server, for the module.

    Teardown sends SIGTERM and checks the worker drained and exited cleanly.
    """
    log = tmp_path_factory.mktemp("saq-worker") / "worker.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.tasks.saq.worker_main", redis_server.url],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = WorkerProcess(proc=proc, log=log)
    try:
        yield worker
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    assert proc.returncode == 0, worker.log_text()[-3000:]
    assert "perpwatch worker stopped" in worker.log_text()
