"""InProcessTaskManager: ids, dedup, lifecycle, TTL, bounds, timeouts, cancel, close."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from perpwatch.errors import InvalidInput
from perpwatch.tasks.base import is_valid_task_id
from perpwatch.tasks.errors import TaskQueueFull, TasksClosed
from perpwatch.tasks.execution import canonical_json
from perpwatch.tasks.inprocess import InProcessTaskManager
from tests.tasks.conftest import wait_status, wait_until
from tests.tasks.ops import Probe, build_registry

Factory = Callable[..., InProcessTaskManager]


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    made: list[InProcessTaskManager] = []

    def factory(**kw: Any) -> InProcessTaskManager:
        kw.setdefault("registry", build_registry())
        kw.setdefault("ctx", Probe())
        kw.setdefault("max_workers", 4)
        kw.setdefault("result_ttl_s", 60)
        kw.setdefault("default_timeout_s", 30)
        m = InProcessTaskManager(**kw)
        made.append(m)
        return m

    yield factory
    for m in made:
        await m.close()


async def started(factory: Factory, **kw: Any) -> InProcessTaskManager:
    m = factory(**kw)
    await m.start()
    return m


async def test_ids_unique_under_rapid_submission(make: Factory) -> None:
    m = await started(make, max_workers=1, max_records=20_000)
    latencies: list[float] = []
    ids: list[str] = []
    for i in range(10_000):
        t0 = time.perf_counter()
        res = await m.submit("echo", {"i": i})
        latencies.append(time.perf_counter() - t0)
        ids.append(res.task.id)
    assert len(set(ids)) == 10_000
    assert all(is_valid_task_id(i) and i.startswith("echo-") for i in ids)
    latencies.sort()
    assert latencies[int(len(latencies) * 0.99)] < 0.010  # submit never waits for work


async def test_same_instant_ids_differ(make: Factory) -> None:
    m = await started(make, clock=lambda: 1_700_000_000.0)  # a frozen clock
    a = await m.submit("echo", {"x": 1})
    b = await m.submit("echo", {"x": 2})
    assert a.task.submitted_at == b.task.submitted_at
    assert a.task.id != b.task.id


async def test_dedup_while_active_then_new_id(make: Factory) -> None:
    m = await started(make)
    first = await m.submit("sleep", {"seconds": 0.3, "tag": "a"})
    assert not first.deduplicated
    again = await m.submit("sleep", {"tag": "a", "seconds": 0.3})  # key order is irrelevant
    assert again.deduplicated and again.task.id == first.task.id
    await wait_status(m, first.task.id, "running")
    running = await m.submit("sleep", {"seconds": 0.3, "tag": "a"})
    assert running.deduplicated and running.task.id == first.task.id
    other = await m.submit("sleep", {"seconds": 0.3, "tag": "b"})
    assert not other.deduplicated and other.task.id != first.task.id
    assert first.task.dedup_key is not None and first.task.dedup_key != other.task.dedup_key
    await wait_status(m, first.task.id, "completed")
    after = await m.submit("sleep", {"seconds": 0.3, "tag": "a"})
    assert not after.deduplicated and after.task.id != first.task.id
    assert m.stats()["deduplicated"] == 2


async def test_status_transitions_and_timestamps(make: Factory) -> None:
    m = await started(make)
    t0 = time.time()
    res = await m.submit("sleep", {"seconds": 0.2})
    queued = res.task
    assert queued.status == "queued" and queued.backend == "inprocess"
    assert queued.started_at is None and queued.finished_at is None and queued.result is None
    assert t0 <= queued.submitted_at <= time.time()
    running = await wait_status(m, queued.id, "running")
    assert running.started_at is not None and running.started_at >= queued.submitted_at
    done = await wait_status(m, queued.id, "completed")
    assert done.result == {"slept": 0.2}
    assert done.error is None and done.error_type is None
    assert done.started_at is not None and done.finished_at is not None
    assert done.finished_at >= done.started_at
    assert done.duration_s is not None and 0.15 <= done.duration_s < 2
    assert done.timeout_s == 30 and done.params == {"seconds": 0.2}


async def test_result_ttl_expiry(make: Factory) -> None:
    now = [1_000.0]
    m = await started(make, result_ttl_s=10, clock=lambda: now[0])
    res = await m.submit("echo", {"v": 1})
    await wait_status(m, res.task.id, "completed")
    now[0] += 9.9
    assert (await m.get(res.task.id)) is not None
    now[0] += 0.2
    assert await m.get(res.task.id) is None
    assert await m.list() == []
    assert m.stats()["records"] == 0


async def test_memory_bounded_oldest_finished_dropped_first(make: Factory) -> None:
    m = await started(make, max_records=50, result_ttl_s=3600)
    ids: list[str] = []
    for batch in range(3):
        new = [(await m.submit("echo", {"i": batch * 40 + i})).task.id for i in range(40)]
        await wait_until(lambda new=new: _all_done(m, new), what="batch done")  # type: ignore[misc]
        ids += new
    assert m.stats()["records"] <= 50
    assert await m.get(ids[0]) is None
    assert (await m.get(ids[-1])) is not None
    assert m.stats()["evicted"] >= 70


async def test_result_bytes_bounded_oldest_finished_dropped_first(make: Factory) -> None:
    m = await started(make, result_ttl_s=3600, max_result_bytes=20_000)
    ids: list[str] = []
    for i in range(30):  # each echoed result is ~1 KB of JSON
        ids.append((await m.submit("echo", {"i": i, "pad": "x" * 1000})).task.id)
        await wait_until(lambda t=ids[-1]: _all_done(m, [t]), what="done")  # type: ignore[misc]
    stats = m.stats()
    assert 0 < stats["result_bytes"] <= 20_000
    assert stats["evicted"] >= 10
    assert await m.get(ids[0]) is None
    newest = await m.get(ids[-1])
    assert newest is not None and newest.result is not None


async def test_result_kept_as_json_text_counted_by_the_cap(make: Factory) -> None:
    m = await started(make, result_ttl_s=3600)
    params = {"i": 1, "pad": "x" * 1000, "nested": {"b": [1, 2.5, None], "a": "é"}}
    res = await m.submit("echo", params)
    done = await wait_status(m, res.task.id, "completed")
    expected = {"echo": params}
    assert done.result == expected
    text = canonical_json(expected)
    rec = m._store.get(res.task.id)
    assert rec is not None
    assert rec.result_json == text  # kept as compact JSON text, not decoded objects
    assert rec.result_bytes == len(text) == m.stats()["result_bytes"]
    again = await m.get(res.task.id)
    assert again is not None and again.result == expected
    assert again.result is not done.result  # decoded afresh on each read
    [listed] = await m.list(include_result=False)
    assert listed.id == res.task.id and listed.status == "completed" and listed.result is None
    [full] = await m.list()
    assert full.result == expected


async def test_full_of_unfinished_tasks_refuses(make: Factory) -> None:
    m = await started(make, max_records=5, max_workers=1)
    for i in range(5):
        await m.submit("sleep", {"seconds": 5, "tag": str(i)})
    with pytest.raises(TaskQueueFull):
        await m.submit("sleep", {"seconds": 5, "tag": "one too many"})


async def test_concurrency_bound(make: Factory) -> None:
    probe = Probe()
    m = await started(make, max_workers=2, ctx=probe)
    ids = [(await m.submit("sleep", {"seconds": 0.15, "tag": str(i)})).task.id for i in range(6)]
    await wait_until(lambda: _all_done(m, ids), timeout_s=5, what="all done")
    assert probe.max_running == 2
    assert sorted(probe.started) == [str(i) for i in range(6)]


async def _all_done(m: InProcessTaskManager, ids: list[str]) -> bool:
    infos = [await m.get(i) for i in ids]
    return all(i is not None and i.status == "completed" for i in infos)


async def test_timeout(make: Factory) -> None:
    m = await started(make)
    res = await m.submit("sleep", {"seconds": 5}, timeout_s=0.2)
    assert res.task.timeout_s == 0.2
    info = await wait_status(m, res.task.id, "failed")
    assert info.error_type == "TimeoutError"
    assert info.error == "timed out after 0.2 s"
    assert info.duration_s is not None and info.duration_s < 1
    op_default = await m.submit("quick_timeout", {"seconds": 5})
    assert op_default.task.timeout_s == 0.3
    assert (await wait_status(m, op_default.task.id, "failed")).error_type == "TimeoutError"


async def test_cancel_queued_never_runs(make: Factory) -> None:
    probe = Probe()
    m = await started(make, max_workers=1, ctx=probe)
    blocker = await m.submit("sleep", {"seconds": 0.3, "tag": "blocker"})
    waiting = await m.submit("sleep", {"seconds": 0.1, "tag": "waiting"})
    cancelled = await m.cancel(waiting.task.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.started_at is None and cancelled.finished_at is not None
    await wait_status(m, blocker.task.id, "completed")
    await asyncio.sleep(0.1)
    assert probe.started == ["blocker"]
    assert (await m.get(waiting.task.id)).status == "cancelled"  # type: ignore[union-attr]
    again = await m.submit("sleep", {"seconds": 0.1, "tag": "waiting"})
    assert not again.deduplicated  # a cancelled task does not block a new one


async def test_cancel_running(make: Factory) -> None:
    probe = Probe()
    m = await started(make, ctx=probe)
    res = await m.submit("sleep", {"seconds": 10, "tag": "long"})
    await wait_status(m, res.task.id, "running")
    info = await m.cancel(res.task.id)
    assert info is not None and info.status == "cancelled"
    assert info.error_type == "Cancelled" and info.finished_at is not None
    assert probe.cancelled == ["long"]
    assert (await m.cancel(res.task.id)).status == "cancelled"  # type: ignore[union-attr]
    assert await m.cancel("no-such-task") is None
    assert await m.cancel("../../etc/passwd") is None  # malformed ids are simply not found
    assert await m.get("x" * 101) is None


async def test_failure_is_logged_not_leaked(
    make: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    m = await started(make)
    with caplog.at_level(logging.ERROR, logger="perpwatch.tasks"):
        res = await m.submit("boom", {})
        info = await wait_status(m, res.task.id, "failed")
    assert info.error_type == "ValueError"
    assert info.error == f"internal error (see log, task {res.task.id})"
    assert "secret" not in info.model_dump_json()
    logged = [r for r in caplog.records if res.task.id in r.getMessage()]
    assert logged and logged[0].getMessage() == f"task {res.task.id} (boom) failed"
    assert logged[0].exc_info is not None and logged[0].exc_info[0] is ValueError

    refused = await wait_status(m, (await m.submit("refuse", {})).task.id, "failed")
    assert (refused.error_type, refused.error) == ("InvalidInput", "symbol FOO is not watched")
    bad = await wait_status(m, (await m.submit("not_json", {})).task.id, "failed")
    assert (bad.error_type, bad.error) == ("TypeError", "result is not JSON-serializable")


async def test_submit_validation_queues_nothing(make: Factory) -> None:
    m = await started(make)
    with pytest.raises(InvalidInput, match="unknown operation"):
        await m.submit("nope", {})
    with pytest.raises(InvalidInput, match="seconds"):
        await m.submit("sleep", {"seconds": "soon"})
    with pytest.raises(InvalidInput, match="JSON"):
        await m.submit("echo", {"x": object()})
    with pytest.raises(InvalidInput, match="timeout"):
        await m.submit("echo", {}, timeout_s=0)
    assert m.stats()["submitted"] == 0 and await m.list() == []


async def test_list_most_recent_first(make: Factory) -> None:
    m = await started(make, max_workers=1)
    a = await m.submit("echo", {"n": 1})
    await wait_status(m, a.task.id, "completed")
    b = await m.submit("sleep", {"seconds": 5})
    await wait_status(m, b.task.id, "running")
    c = await m.submit("sleep", {"seconds": 5, "tag": "c"})
    assert [t.id for t in await m.list()] == [c.task.id, b.task.id, a.task.id]
    assert [t.id for t in await m.list(limit=2)] == [c.task.id, b.task.id]
    assert [t.id for t in await m.list(status="completed")] == [a.task.id]
    assert [t.id for t in await m.list(status="queued")] == [c.task.id]
    assert [t.id for t in await m.list(status="running")] == [b.task.id]


async def test_close_with_grace(make: Factory) -> None:
    probe = Probe()
    m = await started(make, max_workers=2, ctx=probe)
    short = await m.submit("sleep", {"seconds": 0.2, "tag": "short"})
    long = await m.submit("sleep", {"seconds": 30, "tag": "long"})
    queued = await m.submit("sleep", {"seconds": 0.1, "tag": "queued"})
    await wait_status(m, long.task.id, "running")
    t0 = time.monotonic()
    await m.close(grace_s=1.0)
    assert 0.9 <= time.monotonic() - t0 < 3
    assert (await m.get(short.task.id)).status == "completed"  # type: ignore[union-attr]
    long_info = await m.get(long.task.id)
    assert long_info is not None and long_info.status == "cancelled"
    assert probe.cancelled == ["long"]
    queued_info = await m.get(queued.task.id)
    assert queued_info is not None and queued_info.status == "cancelled"
    assert "queued" not in probe.started
    with pytest.raises(TasksClosed):
        await m.submit("echo", {})


async def test_close_returns_early_when_idle(make: Factory) -> None:
    m = await started(make)
    res = await m.submit("sleep", {"seconds": 0.1})
    await wait_status(m, res.task.id, "running")
    t0 = time.monotonic()
    await m.close(grace_s=10)
    assert time.monotonic() - t0 < 1
    assert (await m.get(res.task.id)).status == "completed"  # type: ignore[union-attr]


async def test_submit_before_start_refused(make: Factory) -> None:
    m = make()
    with pytest.raises(TasksClosed):
        await m.submit("echo", {})
