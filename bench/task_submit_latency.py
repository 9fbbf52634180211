"""Latency of submitting an async task over HTTP: GET /funding_monitor/latest-rates-async.

Starts the emulator (100 ms added latency) and ``perpwatch serve`` (funding from the
emulator's Binance USD-M through ccxt, scheduler off), each in its own process, and times
submissions over one keep-alive connection (stdlib ``http.client``) at a steady 50 per
second, alternating ``fast_mode``: new tasks are created whenever the previous identical
one has finished, the rest are deduplicated, and the refreshes really run meanwhile in
the same process. Runs: the in-process backend; SAQ (Redis) with the app's own worker;
SAQ with execution in a separate ``perpwatch worker`` process. One client sending many
submissions would hit the per-client submission limit, so it is switched off here
(``SUBMIT_RATE_PER_MIN=0``): the figure is the cost of a submission, not of a refusal.

    python bench/task_submit_latency.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from typing import Any

from bench.common import (
    ROOT,
    PerpwatchProcess,
    RedisServer,
    emulator_process,
    free_port,
    percentile,
)

PACE_S = 0.02  # 50 submissions a second


def run_once(env: dict[str, str], requests: int, exchange_url: str) -> dict[str, Any]:
    port = free_port()
    env = {
        **env,
        "PORT": str(port),
        "MARKET": "sim",
        "LOG_LEVEL": "WARNING",
        "HAMA_SCHEDULER_AUTO_START": "false",
        "FUNDING_EXCHANGES": "binanceusdm",
        "EXCHANGE_API_URL": exchange_url,
        "PYTHONPATH": str(ROOT),
        "SUBMIT_RATE_PER_MIN": "0",
    }
    with PerpwatchProcess(["serve"], env=env) as server:
        server.wait_http(f"http://127.0.0.1:{port}/health", timeout_s=120)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        lat: list[float] = []
        ids: set[str] = set()
        dedup = errors = 0
        next_at = time.perf_counter()
        for i in range(requests + 100):
            next_at += PACE_S
            time.sleep(max(0.0, next_at - time.perf_counter()))
            path = f"/funding_monitor/latest-rates-async?fast_mode={'true' if i % 2 else 'false'}"
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            raw = resp.read()
            elapsed = (time.perf_counter() - t0) * 1000
            if i < 100:
                continue  # warm-up
            lat.append(elapsed)
            if resp.status != 200:
                errors += 1
                continue
            body = json.loads(raw)
            ids.add(body["task_id"])
            dedup += bool(body["deduplicated"])
        conn.close()
    return {
        "requests": requests,
        "errors": errors,
        "tasks_created": len(ids),
        "deduplicated": dedup,
        "p50_ms": round(percentile(lat, 50), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(max(lat), 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=2000)
    args = p.parse_args(argv)
    with emulator_process(latency_ms=100) as emu_url:
        inprocess = run_once({"REDIS_ENABLED": "false"}, args.requests, emu_url)
        with RedisServer() as redis:
            saq_env = {"REDIS_URL": redis.url, "TASK_BACKEND": "saq"}
            saq = run_once(saq_env, args.requests, emu_url)
            worker_env = {
                **saq_env,
                "MARKET": "sim",
                "FUNDING_EXCHANGES": "binanceusdm",
                "EXCHANGE_API_URL": emu_url,
                "PYTHONPATH": str(ROOT),
                "LOG_LEVEL": "WARNING",
            }
            with PerpwatchProcess(["worker"], env=worker_env):
                remote = run_once({**saq_env, "TASK_LOCAL_WORKER": "false"}, args.requests, emu_url)
    result = {"inprocess": inprocess, "saq": saq, "saq_remote_worker": remote}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
