"""/api/tasks and POST /api/gainer-analysis/refresh."""

from __future__ import annotations

import time
from typing import Any

import httpx

from perpwatch.emulator import running_emulator
from tests.api.conftest import API, AppFactory


def wait(client: httpx.Client, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/tasks/{task_id}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        if data["status"] in ("completed", "failed", "cancelled"):
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.05)


def test_hama_refresh_task(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False, SYMBOLS_LIMIT=5) as client:
        r = client.post(f"{API}/refresh")
        assert r.status_code == 202
        body = r.json()
        assert body["code"] == 1 and body["data"]["task_id"].startswith("hama_refresh-")
        done = wait(client, body["data"]["task_id"])
        assert done["status"] == "completed"
        assert done["result"]["ok"] == 5 and done["result"]["failed"] == 0
        assert done["start_time"] and done["end_time"] and done["duration_s"] >= 0
        assert client.get(f"{API}/cache-stats").json()["data"]["cached_symbols"] == 5

        one = client.post(f"{API}/refresh", json={"symbols": ["eth/usdt:usdt"]}).json()["data"]
        assert wait(client, one["task_id"])["params"] == {"symbols": ["ETHUSDT"]}

        listed = client.get("/api/tasks", params={"status": "completed"}).json()["data"]
        assert listed["count"] == 2 and all("result" not in t for t in listed["tasks"])
        assert listed["tasks"][0]["id"] == one["task_id"]  # most recent first


def test_refresh_validation(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        for body, status in [
            ({"symbols": []}, 400),
            ({"symbols": ["BTC USDT"]}, 400),
            ({"symbols": "BTCUSDT"}, 422),
            ({"nope": 1}, 422),
        ]:
            r = client.post(f"{API}/refresh", json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["code"] == 0
        assert client.get("/api/tasks").json()["data"]["count"] == 0
        assert client.get("/api/tasks", params={"status": "done"}).status_code == 422
        assert client.get("/api/tasks", params={"limit": 0}).status_code == 422


def test_cancel_running_and_unknown(app_client: AppFactory) -> None:
    with (
        running_emulator(latency_ms=1500) as url,
        app_client(
            REDIS_ENABLED=False, FUNDING_EXCHANGES="binanceusdm", EXCHANGE_API_URL=url
        ) as client,
    ):
        task_id = client.get("/funding_monitor/latest-rates-async").json()["task_id"]
        time.sleep(0.2)
        r = client.delete(f"/api/tasks/{task_id}")
        assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"
        again = client.delete(f"/api/tasks/{task_id}")  # idempotent
        assert again.status_code == 200 and again.json()["data"]["status"] == "cancelled"
        status = client.get(f"/funding_monitor/task-status/{task_id}").json()["task_status"]
        assert status["status"] == "cancelled"
        cached = client.get("/funding_monitor/latest-rates-async", params={"cache_only": "true"})
        finished = cached.json()["task_id"]
        while client.get(f"/api/tasks/{finished}").json()["data"]["status"] != "failed":
            time.sleep(0.05)
        assert client.delete(f"/api/tasks/{finished}").status_code == 409
        assert client.get("/api/tasks/nope").status_code == 404
        assert client.delete("/api/tasks/nope").status_code == 404


def test_scheduled_funding_check_reports_in_status(app_client: AppFactory) -> None:
    with app_client(
        REDIS_ENABLED=False,
        HAMA_SCHEDULER_AUTO_START=True,
        SYMBOLS_LIMIT=3,
        FUNDING_CHECK_INTERVAL=1,
    ) as client:
        deadline = time.monotonic() + 20
        while True:
            fc = client.get(f"{API}/scheduler/status").json()["data"]["funding_check"]
            if fc["successes"] >= 2:
                break
            assert time.monotonic() < deadline, fc
            time.sleep(0.2)
        assert fc["running"] is True and fc["failures"] == 0 and fc["consecutive_failures"] == 0
        snap = client.get("/funding_monitor/latest-rates").json()
        assert snap["status"] == "success" and snap["count"] == 160
