"""Cache-hit latency of POST /api/gainer-analysis/analyze-symbol through the HTTP server.

Starts ``perpwatch serve`` (simulated market) in its own process, waits until the first
refresh has filled the cache, then times sequential requests over one keep-alive
connection, round-robin over the watched symbols. Every response is checked to be a
cache hit. Run once with Redis and once with the memory cache.

The client is the standard library's ``http.client``: its own cost per request is small
(~0.1 ms here), where httpx's is about 1 ms and would hide the server's figure.

    python bench/analyze_latency.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from typing import Any

import httpx

from bench.common import ROOT, PerpwatchProcess, RedisServer, free_port, percentile

API = "/api/gainer-analysis"


def run_once(env: dict[str, str], requests: int) -> dict[str, Any]:
    port = free_port()
    env = {
        **env,
        "PORT": str(port),
        "MARKET": "sim",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    url = f"http://127.0.0.1:{port}"
    with PerpwatchProcess(["serve"], env=env) as server:
        server.wait_http(f"{url}/health/ready", timeout_s=120)
        symbols = httpx.get(f"{url}{API}/scheduler/status").json()["data"]["symbols"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        bodies = [json.dumps({"symbol": s}) for s in symbols]
        headers = {"content-type": "application/json"}

        def post(body: str) -> tuple[int, bytes]:
            conn.request("POST", f"{API}/analyze-symbol", body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()

        for i in range(300):  # warm-up
            post(bodies[i % len(bodies)])
        lat: list[float] = []
        answers: list[tuple[int, bytes]] = []
        for i in range(requests):
            t0 = time.perf_counter()
            answers.append(post(bodies[i % len(bodies)]))
            lat.append((time.perf_counter() - t0) * 1000)
        conn.close()
        misses = sum(
            1 for status, raw in answers if status != 200 or not json.loads(raw)["data"]["cached"]
        )
    return {
        "requests": requests,
        "symbols": len(symbols),
        "not_cache_hits": misses,
        "p50_ms": round(percentile(lat, 50), 3),
        "p90_ms": round(percentile(lat, 90), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(max(lat), 3),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=3000)
    args = p.parse_args(argv)
    with RedisServer() as redis:
        with_redis = run_once({"REDIS_URL": redis.url}, args.requests)
    with_memory = run_once({"REDIS_ENABLED": "false"}, args.requests)
    result = {"redis": with_redis, "memory": with_memory}
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
