"""SaqTaskManager on a real redis-server, with a SAQ worker in a separate process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis

from perpwatch.tasks.errors import TasksClosed
from perpwatch.tasks.saq.backend import SaqTaskManager
from perpwatch.testing.processes import PerpwatchProcess
from tests.tasks.conftest import SAQ_WARNINGS, wait_status, wait_until
from tests.tasks.ops import Probe, build_registry

pytestmark = SAQ_WARNINGS

Factory = Callable[..., SaqTaskManager]
IDLE_QUEUE = "perpwatch-idle"  # no worker listens: its tasks stay queued


@pytest.fixture
async def make(redis_url: str) -> AsyncIterator[Factory]:
    made: list[SaqTaskManager] = []

    def factory(**kw: Any) -> SaqTaskManager:
        kw.setdefault("redis_url", redis_url)
        kw.setdefault("registry", build_registry())
        kw.setdefault("ctx", Probe())
        kw.setdefault("result_ttl_s", 60)
        kw.setdefault("default_timeout_s", 30)
        kw.setdefault("local_worker", False)
        m = SaqTaskManager(**kw)
        made.append(m)
        return m

    yield factory
    for m in made:
        await m.close()


async def started(factory: Factory, **kw: Any) -> SaqTaskManager:
    m = factory(**kw)
    await m.start()
    return m


async def test_submit_on_one_instance_status_on_another(
    make: Factory, saq_worker: PerpwatchProcess
) -> None:
    a, b = await started(make), await started(make)
    t0 = time.time()
    res = await a.submit("echo", {"n": 1, "s": "x"})
    assert not res.deduplicated
    assert res.task.status == "queued" and res.task.backend == "saq"
    assert t0 <= res.task.submitted_at <= time.time()
    done = await wait_status(b, res.task.id, "completed", timeout_s=15)
    assert done.result == {"echo": {"n": 1, "s": "x"}}
    assert done.operation == "echo" and done.params == {"n": 1, "s": "x"}
    assert done.started_at is not None and done.finished_at is not None
    assert done.submitted_at - 1 <= done.started_at <= done.finished_at
    assert done.duration_s is not None and done.duration_s >= 0
    assert (await a.get(res.task.id)) == done
    assert [t.id for t in await b.list()] == [res.task.id]
    assert [t.id for t in await b.list(status="completed")] == [res.task.id]
    assert await b.list(status="failed") == []
    assert await b.get("no-such-task") is None
    assert await b.get("bad id with spaces") is None


async def test_dedup_across_instances(make: Factory, saq_worker: PerpwatchProcess) -> None:
    a, b = await started(make), await started(make)
    first = await a.submit("sleep", {"seconds": 0.6, "tag": "d"})
    same = await b.submit("sleep", {"tag": "d", "seconds": 0.6})
    assert same.deduplicated and same.task.id == first.task.id
    await wait_status(b, first.task.id, "running", timeout_s=15)
    running = await b.submit("sleep", {"seconds": 0.6, "tag": "d"})
    assert running.deduplicated and running.task.id == first.task.id
    other = await b.submit("sleep", {"seconds": 0.6, "tag": "e"})
    assert not other.deduplicated and other.task.id != first.task.id
    await wait_status(a, first.task.id, "completed", timeout_s=10)
    after = await b.submit("sleep", {"seconds": 0.6, "tag": "d"})
    assert not after.deduplicated and after.task.id != first.task.id


async def test_simultaneous_identical_submits_make_one_task(make: Factory) -> None:
    a, b = await started(make, queue_name=IDLE_QUEUE), await started(make, queue_name=IDLE_QUEUE)
    results = await asyncio.gather(*(m.submit("echo", {"race": True}) for m in (a, b, a, b, a, b)))
    assert len({r.task.id for r in results}) == 1
    assert sum(not r.deduplicated for r in results) == 1


async def test_results_expire(make: Factory, saq_worker: PerpwatchProcess) -> None:
    m = await started(make, result_ttl_s=1)
    res = await m.submit("echo", {"ttl": 1})
    await wait_status(m, res.task.id, "completed", timeout_s=15)
    await wait_until(lambda: _gone(m, res.task.id), timeout_s=4, what="result expired")
    assert await m.list() == []


async def _gone(m: SaqTaskManager, task_id: str) -> bool:
    return await m.get(task_id) is None


async def test_cancel_queued(make: Factory, redis_url: str) -> None:
    a, b = await started(make, queue_name=IDLE_QUEUE), await started(make, queue_name=IDLE_QUEUE)
    res = await a.submit("sleep", {"seconds": 1})
    assert (await b.get(res.task.id)).status == "queued"  # type: ignore[union-attr]
    info = await b.cancel(res.task.id)
    assert info is not None and info.status == "cancelled"
    assert info.error_type == "Cancelled" and info.finished_at is not None
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.llen(f"saq:{IDLE_QUEUE}:queued") == 0  # really off the queue
    finally:
        client.close()
    again = await a.submit("sleep", {"seconds": 1})
    assert not again.deduplicated and again.task.id != res.task.id
    assert await a.cancel("no-such-task") is None


async def test_cancel_running(make: Factory, saq_worker: PerpwatchProcess) -> None:
    a, b = await started(make), await started(make)
    res = await a.submit("sleep", {"seconds": 20, "tag": "c"})
    await wait_status(a, res.task.id, "running", timeout_s=15)
    info = await b.cancel(res.task.id)
    assert info is not None and info.status == "cancelled"
    stopped = await _wait_finished(a, res.task.id, timeout_s=6)
    assert stopped.status == "cancelled" and stopped.duration_s is not None
    assert stopped.duration_s < 10  # the worker really stopped it


async def _wait_finished(m: SaqTaskManager, task_id: str, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        info = await m.get(task_id)
        if info is not None and info.finished_at is not None:
            return info
        assert time.monotonic() < deadline, f"{task_id} did not finish: {info}"
        await asyncio.sleep(0.05)


async def test_failure_type_and_worker_log(make: Factory, saq_worker: PerpwatchProcess) -> None:
    m = await started(make)
    res = await m.submit("boom", {})
    info = await wait_status(m, res.task.id, "failed", timeout_s=15)
    assert info.error_type == "ValueError"
    assert info.error == f"internal error (see log, task {res.task.id})"
    assert "secret" not in info.model_dump_json() and "Traceback" not in info.model_dump_json()
    log = saq_worker.log_text()
    assert f"task {res.task.id} (boom) failed" in log
    assert "ValueError: boom secret detail" in log

    late = await m.submit("sleep", {"seconds": 5}, timeout_s=0.5)
    timed_out = await wait_status(m, late.task.id, "failed", timeout_s=15)
    assert (timed_out.error_type, timed_out.error) == ("TimeoutError", "timed out after 0.5 s")


async def test_local_worker_runs_and_drains_on_close(make: Factory) -> None:
    probe = Probe()
    queue = "perpwatch-local"
    app = await started(make, queue_name=queue, local_worker=True, ctx=probe)
    observer = await started(make, queue_name=queue)
    quick = await app.submit("echo", {"local": True})
    assert (await wait_status(observer, quick.task.id, "completed", timeout_s=10)).result == {
        "echo": {"local": True}
    }
    slow = await app.submit("sleep", {"seconds": 0.8, "tag": "drain"})
    await wait_status(observer, slow.task.id, "running", timeout_s=10)
    await app.close(grace_s=5)
    done = await observer.get(slow.task.id)
    assert done is not None and done.status == "completed" and probe.cancelled == []
    assert app.stats()["submitted"] == 2


async def test_close_right_after_start(make: Factory) -> None:
    m = await started(make, queue_name="perpwatch-quick", local_worker=True)
    t0 = time.monotonic()
    await m.close(grace_s=5)
    assert time.monotonic() - t0 < 3


async def test_close_puts_unfinished_jobs_back_on_the_queue(make: Factory) -> None:
    queue = "perpwatch-requeue"
    app = await started(make, queue_name=queue, local_worker=True)
    observer = await started(make, queue_name=queue)
    res = await app.submit("sleep", {"seconds": 20})
    await wait_status(observer, res.task.id, "running", timeout_s=10)
    t0 = time.monotonic()
    await app.close(grace_s=0.3)
    assert time.monotonic() - t0 < 3
    back = await observer.get(res.task.id)
    assert back is not None and back.status == "queued" and back.started_at is None
    with pytest.raises(TasksClosed):
        await app.submit("echo", {})
