"""/funding_monitor/*: the async refresh, its status, the cached snapshot, errors."""

from __future__ import annotations

import time
from typing import Any

import httpx

from perpwatch.emulator import running_emulator
from tests.api.conftest import AppFactory

FIELDS = {
    "symbol",
    "exchange",
    "funding_rate",
    "next_funding_time",
    "funding_interval",
    "mark_price",
    "index_price",
    "last_updated",
    "data_source",
    "apr",
}


def wait_task(client: httpx.Client, task_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/funding_monitor/task-status/{task_id}").json()
        assert body["status"] == "success" and body["task_id"] == task_id
        ts: dict[str, Any] = body["task_status"]
        if ts["status"] in ("completed", "failed", "cancelled", "not_found"):
            return ts
        assert time.monotonic() < deadline, ts
        time.sleep(0.05)


def test_async_refresh_then_snapshot(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        before = client.get("/funding_monitor/latest-rates")
        assert before.status_code == 503 and before.json()["status"] == "error"
        assert "no funding data" in before.json()["message"]

        t0 = time.perf_counter()
        r = client.get("/funding_monitor/latest-rates-async", params={"fast_mode": "false"})
        assert time.perf_counter() - t0 < 1.0
        body = r.json()
        assert r.status_code == 200
        assert set(body) >= {"status", "message", "task_id", "timestamp", "note"}
        assert body["status"] == "success"
        ts = wait_task(client, body["task_id"])
        assert ts["status"] == "completed" and ts["end_time"]
        result = ts["result"]
        assert set(result) >= {
            "status",
            "contracts",
            "count",
            "real_time_count",
            "cached_count",
            "execution_time",
            "timestamp",
        }
        assert result["count"] == len(result["contracts"]) == 160
        assert result["real_time_count"] == 160 and result["cached_count"] == 0
        row = result["contracts"]["BTCUSDT"]
        assert set(row) >= FIELDS and row["data_source"] == "real_time"
        assert row["funding_interval"] in {"1h", "4h", "8h"}
        intervals = {c["funding_interval"] for c in result["contracts"].values()}
        assert intervals == {"1h", "4h", "8h"}

        snap = client.get("/funding_monitor/latest-rates").json()
        assert snap["status"] == "success" and snap["count"] == 160
        assert snap["contracts"]["BTCUSDT"]["data_source"] == "cached"
        assert snap["contracts"]["BTCUSDT"]["funding_rate"] == row["funding_rate"]


def test_fast_mode_and_cache_only(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False, SYMBOLS="BTCUSDT,ETHUSDT") as client:
        # cache_only before anything was fetched: the task fails, honestly
        r = client.get("/funding_monitor/latest-rates-async", params={"cache_only": "true"})
        failed = wait_task(client, r.json()["task_id"])
        assert failed["status"] == "failed" and "no funding data" in failed["error"]

        r = client.get("/funding_monitor/latest-rates-async", params={"fast_mode": "true"})
        done = wait_task(client, r.json()["task_id"])
        assert sorted(done["result"]["contracts"]) == ["BTCUSDT", "ETHUSDT"]

        r = client.get("/funding_monitor/latest-rates-async", params={"cache_only": "true"})
        cached = wait_task(client, r.json()["task_id"])["result"]
        assert cached["count"] == 160 and cached["cached_count"] == 160
        assert cached["real_time_count"] == 0


def test_identical_submissions_are_deduplicated(app_client: AppFactory) -> None:
    with (
        running_emulator(latency_ms=400) as url,
        app_client(
            REDIS_ENABLED=False, FUNDING_EXCHANGES="binanceusdm", EXCHANGE_API_URL=url
        ) as client,
    ):
        a = client.get("/funding_monitor/latest-rates-async").json()
        b = client.get("/funding_monitor/latest-rates-async").json()
        c = client.get("/funding_monitor/latest-rates-async", params={"fast_mode": "true"}).json()
        assert a["task_id"] == b["task_id"] and b["deduplicated"] is True
        assert c["task_id"] != a["task_id"] and c["deduplicated"] is False
        running = client.get(f"/funding_monitor/task-status/{a['task_id']}").json()["task_status"]
        assert running["status"] in ("queued", "running")
        done = wait_task(client, a["task_id"])
        assert done["status"] == "completed"
        assert done["result"]["exchange"] == "binanceusdm"
        after = client.get("/funding_monitor/latest-rates-async").json()
        assert after["task_id"] != a["task_id"]  # finished tasks do not absorb new ones


def test_bad_input_and_unknown_tasks(app_client: AppFactory) -> None:
    with app_client(REDIS_ENABLED=False) as client:
        for params in ({"fast_mode": "maybe"}, {"cache_only": "2"}):
            r = client.get("/funding_monitor/latest-rates-async", params=params)
            assert r.status_code == 422 and r.json()["status"] == "error"
        for task_id in ("nope", "funding_refresh-" + "0" * 32, "x" * 300, "a b"):
            r = client.get(f"/funding_monitor/task-status/{task_id}")
            if r.status_code == 200:
                assert r.json()["task_status"] == {"status": "not_found"}
            else:
                assert r.status_code == 404
        r = client.get("/funding_monitor/arbitrage", params={"sort_by": "volume"})
        assert r.status_code == 422
        r = client.get("/funding_monitor/arbitrage", params={"min_spread_apr": "-1"})
        assert r.status_code == 422


def test_exchange_down_fails_honestly_then_serves_cached(app_client: AppFactory) -> None:
    with running_emulator() as url:
        pass  # closed again: nothing listens there any more
    with app_client(
        REDIS_ENABLED=False,
        FUNDING_EXCHANGES="binanceusdm,sim",
        EXCHANGE_API_URL=url,
        EXCHANGE_RETRIES=0,
        EXCHANGE_TIMEOUT=2,
    ) as client:
        r = client.get("/funding_monitor/latest-rates-async")
        result = wait_task(client, r.json()["task_id"])["result"]
        # binanceusdm unreachable, sim fine: a partial result, nothing made up for binance
        assert result["status"] == "partial"
        assert result["exchanges"]["binanceusdm"]["source"] == "missing"
        assert result["exchanges"]["binanceusdm"]["error"]
        assert result["exchange"] == "sim" and result["count"] == 160
        assert result["by_exchange"] == {}  # sim's table is `contracts`, not repeated
