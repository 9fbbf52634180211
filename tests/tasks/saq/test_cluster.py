"""SaqTaskManager on a real 3-master Redis Cluster, with a SAQ worker in its own process.

SAQ runs on redis-py's asyncio ``RedisCluster`` directly: the queue is named ``{perpwatch}``,
a hash tag, so SAQ's scripts and transactions and perpwatch's dedup script each stay in one
slot. Submit, status, list, dedup, cancel and failures work across instances as on one
server, and the queue carries on after its master is killed and its replica promoted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.crc import key_slot

from perpwatch.tasks.errors import TaskBackendUnavailable
from perpwatch.tasks.models import TaskInfo
from perpwatch.tasks.saq.backend import SaqTaskManager
from perpwatch.tasks.saq.jobs import JOB_FUNCTION, saq_queue_name
from perpwatch.testing.processes import PerpwatchProcess
from tests.support.redis_cluster import RedisCluster
from tests.tasks.conftest import ROOT, SAQ_WARNINGS, wait_status
from tests.tasks.ops import Probe, build_registry

pytestmark = SAQ_WARNINGS

Factory = Callable[..., SaqTaskManager]
IDLE_QUEUE = "perpwatch-idle"  # no worker listens: its tasks stay queued
QUEUE_KEY = "saq:{perpwatch}:queued"
BACK_WITHIN_S = 5.0  # from the promotion seen by the test to a submit that works again


@pytest.fixture(scope="module")
def cluster_worker(
    redis_cluster: RedisCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PerpwatchProcess]:
    """``python -m tests.tasks.saq.cluster_worker_main`` on the shared cluster."""
    log = tmp_path_factory.mktemp("saq-cluster-worker") / "worker.log"
    worker = PerpwatchProcess(
        [redis_cluster.url],
        module="tests.tasks.saq.cluster_worker_main",
        env={"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        log_path=log,
        stop_timeout_s=10,
    )
    with worker:
        yield worker
    assert worker.returncode == 0, worker.log_tail()
    assert "perpwatch worker stopped" in worker.log_text()


@pytest.fixture
async def make(cluster_url: str) -> AsyncIterator[Factory]:
    made: list[SaqTaskManager] = []

    def factory(**kw: Any) -> SaqTaskManager:
        kw.setdefault("redis_url", cluster_url)
        kw.setdefault("cluster", True)
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


async def cluster_keys(url: str) -> list[str]:
    client = AsyncRedisCluster.from_url(url)
    try:
        return sorted([k.decode() async for k in client.scan_iter(count=1000)])
    finally:
        await client.aclose()


async def wait_finished(m: SaqTaskManager, task_id: str, timeout_s: float = 6.0) -> TaskInfo:
    """The task once its worker has really stopped it (``finished_at`` set)."""
    deadline = time.monotonic() + timeout_s
    while (info := await m.get(task_id)) is None or info.finished_at is None:
        assert time.monotonic() < deadline, f"{task_id} did not finish: {info}"
        await asyncio.sleep(0.05)
    return info


def test_queue_names_are_hash_tags_on_a_cluster_only() -> None:
    assert saq_queue_name(cluster=False) == "perpwatch"
    assert saq_queue_name(cluster=True) == "{perpwatch}"
    assert saq_queue_name(IDLE_QUEUE, cluster=True) == "{perpwatch-idle}"
    assert saq_queue_name("{x}", cluster=True) == "{x}"


async def test_every_key_of_the_queue_is_in_one_slot(
    make: Factory, cluster_url: str, cluster_worker: PerpwatchProcess
) -> None:
    m = await started(make)
    done = await m.submit("echo", {"n": 1})
    await wait_status(m, done.task.id, "completed", timeout_s=15)
    queued = await m.submit("sleep", {"seconds": 30, "tag": "k"})
    await wait_status(m, queued.task.id, "running", timeout_s=15)
    job = m._queue.new_job(function=JOB_FUNCTION, key="abc")
    job.queue = m._queue
    assert job.abort_id == "saq:abort:{perpwatch}:abc"

    keys = [k for k in await cluster_keys(cluster_url) if not k.startswith("hama:")]
    assert f"saq:job:{{perpwatch}}:{done.task.id}" in keys
    assert f"saq:job:{{perpwatch}}:{queued.task.id}" in keys
    assert "perpwatch:task:index:{perpwatch}" in keys
    assert sum(k.startswith("perpwatch:task:dedup:{perpwatch}:") for k in keys) == 2
    assert "saq:{perpwatch}:incomplete" in keys and "saq:{perpwatch}:active" in keys
    assert {key_slot(k.encode()) for k in keys} == {key_slot(QUEUE_KEY.encode())}, keys
    await m.cancel(queued.task.id)
    assert (await wait_finished(m, queued.task.id)).status == "cancelled"


async def test_submit_on_one_instance_status_and_list_on_another(
    make: Factory, cluster_worker: PerpwatchProcess
) -> None:
    a, b = await started(make), await started(make)
    res = await a.submit("echo", {"n": 1, "s": "x"})
    assert not res.deduplicated and res.task.status == "queued" and res.task.backend == "saq"
    done = await wait_status(b, res.task.id, "completed", timeout_s=15)
    assert done.result == {"echo": {"n": 1, "s": "x"}}
    assert (await a.get(res.task.id)) == done
    assert [t.id for t in await b.list()] == [res.task.id]
    assert [t.id for t in await b.list(status="completed")] == [res.task.id]
    assert await b.list(status="failed") == []
    assert await b.get("no-such-task") is None
    assert a.stats()["queue"] == "{perpwatch}"


async def test_dedup_across_instances(make: Factory, cluster_worker: PerpwatchProcess) -> None:
    a, b = await started(make), await started(make)
    first = await a.submit("sleep", {"seconds": 0.6, "tag": "d"})
    same = await b.submit("sleep", {"tag": "d", "seconds": 0.6})
    assert same.deduplicated and same.task.id == first.task.id
    await wait_status(b, first.task.id, "running", timeout_s=15)
    running = await b.submit("sleep", {"seconds": 0.6, "tag": "d"})
    assert running.deduplicated and running.task.id == first.task.id
    await wait_status(a, first.task.id, "completed", timeout_s=10)
    after = await b.submit("sleep", {"seconds": 0.6, "tag": "d"})
    assert not after.deduplicated and after.task.id != first.task.id


async def test_simultaneous_identical_submits_make_one_task(make: Factory) -> None:
    a, b = await started(make, queue_name=IDLE_QUEUE), await started(make, queue_name=IDLE_QUEUE)
    results = await asyncio.gather(*(m.submit("echo", {"race": True}) for m in (a, b, a, b, a, b)))
    assert len({r.task.id for r in results}) == 1
    assert sum(not r.deduplicated for r in results) == 1


async def test_cancel_queued_and_running(
    make: Factory, cluster_url: str, cluster_worker: PerpwatchProcess
) -> None:
    idle = await started(make, queue_name=IDLE_QUEUE)
    res = await idle.submit("sleep", {"seconds": 1})
    info = await idle.cancel(res.task.id)
    assert info is not None and info.status == "cancelled" and info.finished_at is not None
    client = AsyncRedisCluster.from_url(cluster_url)
    try:
        assert await client.llen("saq:{perpwatch-idle}:queued") == 0  # really off the queue
    finally:
        await client.aclose()

    a, b = await started(make), await started(make)
    run = await a.submit("sleep", {"seconds": 20, "tag": "c"})
    await wait_status(a, run.task.id, "running", timeout_s=15)
    cancelled = await b.cancel(run.task.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    stopped = await wait_finished(a, run.task.id)
    assert stopped.status == "cancelled" and (stopped.duration_s or 0) < 10


async def test_failure_is_reported_with_its_type(
    make: Factory, cluster_worker: PerpwatchProcess
) -> None:
    m = await started(make)
    res = await m.submit("boom", {})
    info = await wait_status(m, res.task.id, "failed", timeout_s=15)
    assert info.error_type == "ValueError"
    assert "secret" not in info.model_dump_json()


async def test_an_idle_manager_finds_the_cluster_after_its_urls_node_failed_over(
    make: Factory, redis_cluster: RedisCluster, cluster_worker: PerpwatchProcess
) -> None:
    """A manager that has sent nothing yet still knows every node (read at start), so the
    death of the one node its URL names does not cut it off. Leaves a failed-over cluster."""
    seed = redis_cluster.masters()[0]
    assert redis_cluster.port_for_key(QUEUE_KEY) != seed
    m = await started(make, redis_url=f"redis://127.0.0.1:{seed}/0")
    assert m._learning is not None
    assert await asyncio.wait_for(m._learning, timeout=5) is True

    redis_cluster.kill_master(seed)
    redis_cluster.wait_failover(timeout_s=10)
    promoted_at = time.monotonic()
    while True:
        try:
            res = await m.submit("echo", {"idle": True})
            break
        except TaskBackendUnavailable:
            assert time.monotonic() - promoted_at < BACK_WITHIN_S, "cut off from the cluster"
            await asyncio.sleep(0.1)
    assert (await wait_status(m, res.task.id, "completed", timeout_s=15)).result == {
        "echo": {"idle": True}
    }


async def test_the_queue_carries_on_after_its_master_fails_over(
    make: Factory, redis_cluster: RedisCluster, cluster_worker: PerpwatchProcess
) -> None:
    """Leaves a failed-over cluster (the next test's ``cluster_url`` heals it)."""
    a, b = await started(make), await started(make)
    before = await a.submit("echo", {"before": True})
    await wait_status(b, before.task.id, "completed", timeout_s=15)
    client = AsyncRedisCluster.from_url(redis_cluster.url)
    try:
        await client.initialize()
        node = client.get_node_from_key(QUEUE_KEY)
        assert await client.execute_command("WAIT", 1, 2000, target_nodes=node) == 1
    finally:
        await client.aclose()

    redis_cluster.kill_master(key=QUEUE_KEY)
    with pytest.raises(TaskBackendUnavailable):
        await a.submit("echo", {"during": True})
    redis_cluster.wait_failover(timeout_s=10)
    promoted_at = time.monotonic()
    while True:  # the same managers (and the worker) find the promoted replica by themselves
        try:
            after = await a.submit("echo", {"after": True})
            break
        except TaskBackendUnavailable:
            assert time.monotonic() - promoted_at < BACK_WITHIN_S, "no submit after failover"
            await asyncio.sleep(0.1)
    done = await wait_status(b, after.task.id, "completed", timeout_s=15)
    assert done.result == {"echo": {"after": True}}
    kept = await b.get(before.task.id)  # written before the kill, kept by the replica
    assert kept is not None and kept.status == "completed"
    assert {t.id for t in await b.list()} >= {before.task.id, after.task.id}
