"""``perpwatch serve`` with EMBEDDED_REDIS and SERVE_WORKERS, as real processes.

One command starts the API, a private redis-server and worker children; a killed worker
is started again and the schedule goes on; SIGTERM stops everything, and a SIGKILLed
parent takes its children with it. Memory-only mode still serves alone.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from perpwatch.embedded.supervisor import pure_api, worker_env
from perpwatch.embedded.workers import describe_exit, restart_delay
from perpwatch.errors import ConfigError
from perpwatch.settings import load_settings
from perpwatch.testing.processes import PerpwatchProcess
from tests.support.redis_server import free_port

API = "/api/gainer-analysis"
SYMBOLS = 20
LEASE_S = 3.0
EMBEDDED = {
    "MARKET": "sim", "REDIS_ENABLED": "true", "EMBEDDED_REDIS": "true", "SERVE_WORKERS": "1",
    "SYMBOLS_LIMIT": str(SYMBOLS), "HAMA_SCHEDULER_INTERVAL": "0.1", "HAMA_CACHE_TTL": "60",
    "SCHEDULER_LEASE_SECONDS": str(LEASE_S), "TASK_SHUTDOWN_GRACE": "2", "LOG_LEVEL": "INFO",
}  # fmt: skip


def wait_until(cond: Callable[[], object], timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < timeout_s, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


def status(base: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}{API}/scheduler/status", timeout=5).json()["data"]
    return body


def task_state(base: str, task_id: str) -> str:
    r = httpx.get(f"{base}/funding_monitor/task-status/{task_id}", timeout=5)
    return str(r.json()["task_status"]["status"])


def schedule_ok(base: str) -> bool:
    last = status(base).get("last_run") or {}
    return bool(last.get("ok") == SYMBOLS)


def children(pid: int) -> dict[str, list[int]]:
    """The serve process's children: ``redis`` and ``worker`` pids."""
    out: dict[str, list[int]] = {"redis": [], "worker": []}
    for child in psutil.Process(pid).children():
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:  # exited (a zombie until the supervisor reaps it)
            continue
        out["redis" if "redis-server" in cmd else "worker"].append(child.pid)
    return out


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def worker_record(coord: dict[str, Any], pid: int) -> dict[str, Any] | None:
    return next((p for p in coord["processes"] if p["pid"] == pid), None)


def redis_dir(proc: PerpwatchProcess) -> Path:
    """The embedded Redis's private directory, from the supervisor's log line."""
    found = re.search(r" on (/\S+)/redis\.sock ", proc.log_text())
    assert found, proc.log_tail()
    return Path(found.group(1))


def start_serve(env: dict[str, str]) -> tuple[PerpwatchProcess, str]:
    port = free_port()
    return PerpwatchProcess(["serve", "--port", str(port)], env=env), f"http://127.0.0.1:{port}"


@pytest.mark.timeout(180)
def test_serve_runs_redis_and_a_worker_restarts_it_and_stops_them_on_sigterm() -> None:
    proc, base = start_serve(EMBEDDED)
    with proc:
        started = time.monotonic()
        proc.wait_http(f"{base}/health", timeout_s=60)
        wait_until(lambda: schedule_ok(base), 60, "the first cycle, by the worker")
        took = time.monotonic() - started

        kids = children(proc.pid)
        assert len(kids["redis"]) == 1 and len(kids["worker"]) == 1, kids
        (redis_pid,), (worker_pid,) = kids["redis"], kids["worker"]
        coord = status(base)["coordination"]
        assert coord["mode"] == "redis" and coord["role"] == "serve"
        assert coord["candidate"] is False and coord["is_leader"] is False
        worker = worker_record(coord, worker_pid)
        assert worker is not None and worker["role"] == "worker"
        assert coord["leader"] == worker["id"] and coord["workers"] == [worker["id"]]
        serve = worker_record(coord, proc.pid)
        assert serve is not None and serve["candidate"] is False  # takes no shards either
        assert serve["id"] not in coord["workers"]
        r = httpx.post(f"{base}{API}/analyze-symbol", json={"symbol": "BTCUSDT"}, timeout=5)
        assert r.status_code == 200 and r.json()["data"]["cached"] is True
        # a task submitted to the API (no local worker) runs on the worker, through SAQ
        r = httpx.get(f"{base}/funding_monitor/latest-rates-async", timeout=5)
        task_id = r.json()["task_id"]
        assert not task_id.startswith("local-")  # not the in-process fallback
        wait_until(lambda: task_state(base, task_id) == "completed", 30, "the task")

        # SIGKILL the worker: the supervisor starts another, which leads and schedules on
        runs = status(base)["runs"]
        psutil.Process(worker_pid).kill()
        wait_until(lambda: children(proc.pid)["worker"] not in ([], [worker_pid]), 10, "a new one")
        (new_pid,) = children(proc.pid)["worker"]

        def new_leader() -> bool:
            c = status(base)["coordination"]
            rec = worker_record(c, new_pid)
            return rec is not None and c["leader"] == rec["id"]

        wait_until(new_leader, 3 * LEASE_S + 10, "the new worker to lead")
        wait_until(lambda: status(base)["runs"] > runs, 30, "a cycle after the restart")
        assert schedule_ok(base)
        assert f"worker-1 (pid {worker_pid}) exited with signal SIGKILL" in proc.log_text()

        # SIGTERM the parent: workers stop, then Redis, then the parent exits (status 0)
        proc.terminate()
        assert proc.wait(timeout=30) == 0, proc.log_tail()
        for pid in (new_pid, redis_pid):
            wait_until(lambda pid=pid: gone(pid), 5, f"child {pid} to end")
        assert not redis_dir(proc).exists()
        log = proc.log_text()
        stopping = log.index("stopping the workers, then the embedded Redis")
        assert log.index("Application shutdown complete") < stopping
        assert stopping < log.index(f"worker-1 (pid {new_pid}) stopped: status 0")
        assert took < 30


@pytest.mark.timeout(120)
def test_children_end_when_the_parent_is_sigkilled() -> None:
    proc, base = start_serve({**EMBEDDED, "SERVE_WORKERS": "2"})
    with proc:
        proc.wait_http(f"{base}/health", timeout_s=60)
        wait_until(lambda: len(status(base)["coordination"]["workers"]) == 2, 60, "two workers")
        kids = children(proc.pid)
        pids = kids["redis"] + kids["worker"]
        assert len(pids) == 3
        proc.kill()  # no shutdown runs: the children must notice by themselves
        try:
            for pid in pids:
                wait_until(lambda pid=pid: gone(pid), 40, f"child {pid} to end")
        finally:
            shutil.rmtree(redis_dir(proc), ignore_errors=True)  # left behind by a crash


@pytest.mark.timeout(120)
def test_the_pure_api_serve_process_becomes_ready() -> None:
    proc, base = start_serve(EMBEDDED)
    with proc:
        proc.wait_http(f"{base}/health", timeout_s=60)
        wait_until(lambda: schedule_ok(base), 60, "the first cycle")
        time.sleep(0.5)
        assert httpx.get(f"{base}/health/ready", timeout=5).status_code == 200


@pytest.mark.timeout(120)
def test_memory_only_still_serves_alone() -> None:
    env = {"MARKET": "sim", "REDIS_ENABLED": "false", "SYMBOLS_LIMIT": str(SYMBOLS),
           "EMBEDDED_REDIS": "false", "SERVE_WORKERS": "0"}  # fmt: skip
    proc, base = start_serve(env)
    with proc:
        proc.wait_http(f"{base}/health/ready", timeout_s=60)
        assert schedule_ok(base)
        assert status(base)["coordination"]["role"] == "all"
        assert psutil.Process(proc.pid).children() == []


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SERVE_WORKERS": "1", "REDIS_ENABLED": "false"}, ("SERVE_WORKERS", "REDIS_ENABLED")),
        ({"EMBEDDED_REDIS": "true", "REDIS_ENABLED": "false"}, ("EMBEDDED_REDIS", "REDIS_ENABLED")),
        ({"EMBEDDED_REDIS": "true", "REDIS_CLUSTER": "true"}, ("EMBEDDED_REDIS", "REDIS_CLUSTER")),
        ({"SERVE_WORKERS": "-1"}, ("SERVE_WORKERS",)),
    ],
)
def test_settings_that_cannot_work_are_refused(env: dict[str, str], names: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as e:
        load_settings(**env)
    for name in names:
        assert name in str(e.value)


def test_serve_workers_without_redis_exits_with_a_clear_error() -> None:
    env = {"MARKET": "sim", "SERVE_WORKERS": "1", "REDIS_ENABLED": "false"}
    proc, _ = start_serve(env)
    with proc:
        assert proc.wait(timeout=30) == 2
        line = proc.log_text().strip().splitlines()[-1]
        assert line.startswith("perpwatch: invalid setting SERVE_WORKERS:")
        assert "REDIS_ENABLED=true" in line and "EMBEDDED_REDIS=true" in line


def test_the_serve_process_is_a_pure_api_and_the_workers_reach_its_redis() -> None:
    settings = load_settings(MARKET="sim", SERVE_WORKERS=2, EXCHANGE_API_URL="http://x:1")
    api = pure_api(settings)
    assert (api.process_shards, api.hama_scheduler_auto_start) == (False, False)
    assert (api.task_backend, api.task_local_worker) == ("saq", False)
    env = worker_env(settings, "unix:///tmp/r.sock?db=0")
    assert env["REDIS_URL"] == "unix:///tmp/r.sock?db=0" and env["TASK_BACKEND"] == "saq"
    assert (env["EMBEDDED_REDIS"], env["SERVE_WORKERS"]) == ("false", "0")  # no recursion
    assert (env["MARKET"], env["EXCHANGE_API_URL"]) == ("sim", "http://x:1")


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 5.0), (5, 10.0), (6, 30.0), (50, 30.0)],
)
def test_restart_delay_grows_while_a_worker_keeps_failing(failures: int, delay: float) -> None:
    assert restart_delay(failures) == delay


def test_exits_are_described() -> None:
    assert describe_exit(-9) == "signal SIGKILL"
    assert describe_exit(2) == "status 2"
