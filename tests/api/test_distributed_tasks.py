"""The distributed task backend: two app instances and one separate ``perpwatch worker``
process sharing one Redis; and Redis down at submit time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis

from perpwatch.testing.processes import PerpwatchProcess
from tests.api.conftest import AppFactory
from tests.support.redis_server import RedisServer
from tests.tasks.conftest import SAQ_WARNINGS

pytestmark = SAQ_WARNINGS


@contextmanager
def worker_process(redis_url: str) -> Iterator[PerpwatchProcess]:
    env = {
        "MARKET": "sim",
        "REDIS_URL": redis_url,
        "TASK_BACKEND": "saq",
        "LOG_LEVEL": "INFO",
        "TASK_SHUTDOWN_GRACE": "2",
    }
    # a task worker only: a scheduler candidate would submit funding checks of its own
    with PerpwatchProcess(["worker", "--no-scheduler"], env=env, stop_timeout_s=20) as proc:
        yield proc


def wait_status(client: httpx.Client, task_id: str, timeout: float = 45.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        ts: dict[str, Any] = client.get(f"/funding_monitor/task-status/{task_id}").json()[
            "task_status"
        ]
        if ts["status"] in ("completed", "failed", "cancelled"):
            return ts
        assert time.monotonic() < deadline, ts
        time.sleep(0.1)


def test_two_instances_one_worker(app_client: AppFactory, redis_url: str) -> None:
    common = {"REDIS_URL": redis_url, "TASK_BACKEND": "saq", "TASK_LOCAL_WORKER": False}
    with app_client(**common) as a, app_client(**common) as b:
        submitted = a.get("/funding_monitor/latest-rates-async").json()
        task_id = submitted["task_id"]
        # nobody executes it yet: neither app runs a worker
        time.sleep(0.5)
        assert (
            b.get(f"/funding_monitor/task-status/{task_id}").json()["task_status"]["status"]
            == "queued"
        )
        # identical submission on the other instance joins the same task
        again = b.get("/funding_monitor/latest-rates-async").json()
        assert again["task_id"] == task_id and again["deduplicated"] is True

        with worker_process(redis_url) as worker:
            done = wait_status(b, task_id)
            assert worker.poll() is None
        assert done["status"] == "completed", done
        assert done["result"]["count"] == 160
        assert a.get(f"/api/tasks/{task_id}").json()["data"]["status"] == "completed"
        listed = b.get("/api/tasks").json()["data"]["tasks"]
        assert [t["id"] for t in listed] == [task_id]

    r = redis.Redis.from_url(redis_url)
    try:
        assert r.exists("funding:rates:sim") == 1  # written by the worker process
    finally:
        r.close()


def test_failure_in_the_worker_is_reported_everywhere(
    app_client: AppFactory, redis_url: str
) -> None:
    common = {"REDIS_URL": redis_url, "TASK_BACKEND": "saq", "TASK_LOCAL_WORKER": False}
    with app_client(**common) as a, app_client(**common) as b, worker_process(redis_url):
        r = a.get("/funding_monitor/latest-rates-async", params={"cache_only": "true"}).json()
        failed = wait_status(b, r["task_id"])
        assert failed["status"] == "failed" and "no funding data" in failed["error"]
        assert "Traceback" not in failed["error"]


@pytest.mark.timeout(90)
def test_redis_down_at_submit_runs_in_process(
    app_client: AppFactory, fresh_redis_server: RedisServer
) -> None:
    with app_client(
        REDIS_URL=fresh_redis_server.url, TASK_BACKEND="saq", REDIS_PROBE_INTERVAL=0.2
    ) as client:
        fresh_redis_server.stop()
        r = client.get("/funding_monitor/latest-rates-async")
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]
        assert task_id.startswith("local-")
        done = wait_status(client, task_id)
        assert done["status"] == "completed" and done["result"]["count"] == 160
        fresh_redis_server.start()
        deadline = time.monotonic() + 10
        while True:  # back on Redis: new submissions go to the shared queue again
            r = client.get("/funding_monitor/latest-rates-async", params={"fast_mode": "true"})
            if r.status_code == 200 and not r.json()["task_id"].startswith("local-"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.3)
        assert wait_status(client, r.json()["task_id"])["status"] == "completed"
