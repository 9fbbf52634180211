"""Latency of submitting an async task over HTTP: GET /funding_monitor/latest-rates-async.

Starts ``perpwatch serve`` (simulated market, scheduler off) in its own process and times
sequential submissions over one keep-alive connection (stdlib ``http.client``),
alternating ``fast_mode`` so both new tasks and deduplicated ones are measured. Run with
the in-process backend and with the SAQ (Redis) backend.

    python bench/task_submit_latency.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from typing import Any

from bench.common import ROOT, RedisServer, free_port, percentile, process, wait_http


def run_once(env: dict[str, str], requests: int) -> dict[str, Any]:
    port = free_port()
    env = {
        **env,
        "PORT": str(port),
        "MARKET": "sim",
        "LOG_LEVEL": "WARNING",
        "HAMA_SCHEDULER_AUTO_START": "false",
        "PYTHONPATH": str(ROOT),
    }
    with process([sys.executable, "-m", "perpwatch", "serve"], env=env):
        wait_http(f"http://127.0.0.1:{port}/health", timeout_s=120)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        lat: list[float] = []
        ids: set[str] = set()
        dedup = errors = 0
        for i in range(requests + 100):
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
    inprocess = run_once({"REDIS_ENABLED": "false"}, args.requests)
    with RedisServer() as redis:
        saq = run_once({"REDIS_URL": redis.url, "TASK_BACKEND": "saq"}, args.requests)
    result = {"inprocess": inprocess, "saq": saq}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
