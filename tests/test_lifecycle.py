"""SIGTERM and restart, with real processes: ``perpwatch serve`` as an operator runs it."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from perpwatch.emulator import running_emulator
from perpwatch.testing.processes import PerpwatchProcess
from tests.support.redis_server import RedisServer, free_port


@contextmanager
def serve(env: dict[str, str]) -> Iterator[tuple[PerpwatchProcess, httpx.Client]]:
    port = free_port()
    full = {
        "MARKET": "sim",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "HAMA_SCHEDULER_AUTO_START": "false",
        **env,
    }
    with (
        PerpwatchProcess(["serve"], env=full) as proc,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        proc.wait_http(f"http://127.0.0.1:{port}/health")
        yield proc, client


def task(client: httpx.Client, task_id: str) -> dict[str, Any]:
    data: dict[str, Any] = client.get(f"/api/tasks/{task_id}").json()["data"]
    return data


def test_sigterm_lets_running_tasks_finish_within_the_grace() -> None:
    with (
        running_emulator(latency_ms=1500) as url,
        serve(
            {
                "REDIS_ENABLED": "false",
                "FUNDING_EXCHANGES": "binanceusdm",
                "EXCHANGE_API_URL": url,
                "TASK_SHUTDOWN_GRACE": "20",
            }
        ) as (proc, client),
    ):
        task_id = client.get("/funding_monitor/latest-rates-async").json()["task_id"]
        time.sleep(0.3)
        assert task(client, task_id)["status"] == "running"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (
            0,
            -signal.SIGTERM,
        )  # uvicorn re-raises it after a clean shutdown
        waited = time.monotonic() - t0
        log = proc.log_text()
    # it waited for the refresh (load_markets + premiumIndex/fundingInfo at 1.5 s each)
    assert waited >= 1.0
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_sigterm_past_the_grace_cancels_and_records() -> None:
    with (
        running_emulator(latency_ms=5000) as url,
        serve(
            {
                "REDIS_ENABLED": "false",
                "FUNDING_EXCHANGES": "binanceusdm",
                "EXCHANGE_API_URL": url,
                "TASK_SHUTDOWN_GRACE": "0.5",
            }
        ) as (proc, client),
    ):
        client.get("/funding_monitor/latest-rates-async")
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) in (
            0,
            -signal.SIGTERM,
        )  # uvicorn re-raises it after a clean shutdown
        assert time.monotonic() - t0 < 5.0  # did not wait for the 5 s exchange
        log = proc.log_text()
    assert "cancelled, grace over" in log


@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_restart_picks_up_work_and_schedule() -> None:
    """With the Redis task backend, a job interrupted by SIGTERM goes back on the queue and
    the restarted instance finishes it; the schedule resumes by itself."""
    with RedisServer() as redis, running_emulator(latency_ms=3000) as url:
        env = {
            "REDIS_URL": redis.url,
            "TASK_BACKEND": "saq",
            "FUNDING_EXCHANGES": "binanceusdm",
            "EXCHANGE_API_URL": url,
            "TASK_SHUTDOWN_GRACE": "0.2",
            "HAMA_SCHEDULER_AUTO_START": "true",
            "SYMBOLS_LIMIT": "5",
            "FUNDING_CHECK_ENABLED": "false",
        }
        with serve(env) as (proc, client):
            task_id = client.get("/funding_monitor/latest-rates-async").json()["task_id"]
            deadline = time.monotonic() + 10
            while task(client, task_id)["status"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) in (
                0,
                -signal.SIGTERM,
            )  # uvicorn re-raises it after a clean shutdown
        with serve(env) as (_proc, client):
            deadline = time.monotonic() + 40
            while (status := task(client, task_id)["status"]) != "completed":
                assert status in ("queued", "running"), status
                assert time.monotonic() < deadline
                time.sleep(0.2)
            s = client.get("/api/gainer-analysis/scheduler/status").json()["data"]
            assert s["running"] is True
