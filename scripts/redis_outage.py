"""Redis outage under steady load: stop the Redis server for 20 s while perpwatch serves.

Runs ``perpwatch serve`` (simulated market, Redis cache, SAQ task backend) in its own
process and drives it with cache-hit reads and task submissions from three threads.
After ``--before`` seconds the Redis server is stopped, kept down ``--down`` seconds,
then started again on the same port. Reported: responses by status (5xx must be 0),
latency per phase, how long perpwatch took to go back to Redis after it returned
(target: within 5 s), and what became of every task submitted during the outage
(each must complete and its status stay answerable).

    python scripts/redis_outage.py [--before 10] [--down 20] [--after 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, PerpwatchProcess, RedisServer, free_port, percentile

API = "/api/gainer-analysis"


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "before"
        self.codes: dict[str, dict[str, int]] = {}
        self.latency: dict[str, list[float]] = {}
        self.tasks: list[tuple[str, str]] = []  # (phase, id)

    def record(self, code: str, ms: float) -> None:
        with self.lock:
            by = self.codes.setdefault(self.phase, {})
            by[code] = by.get(code, 0) + 1
            self.latency.setdefault(self.phase, []).append(ms)


def reader(url: str, rec: Recorder, stop: threading.Event, symbols: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            t0 = time.perf_counter()
            try:
                r = client.post(f"{API}/analyze-symbol", json={"symbol": symbols[i % len(symbols)]})
                code = str(r.status_code)
            except httpx.HTTPError as e:
                code = type(e).__name__
            rec.record(code, (time.perf_counter() - t0) * 1000)
            time.sleep(0.005)


def submitter(url: str, rec: Recorder, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        i = 0
        while not stop.is_set():
            i += 1
            t0 = time.perf_counter()
            try:
                if i % 5 == 0:
                    r = client.post(f"{API}/refresh", json={"symbols": ["BTCUSDT", "ETHUSDT"]})
                    task_id = r.json()["data"]["task_id"] if r.status_code == 202 else None
                else:
                    params = {"fast_mode": "true" if i % 2 else "false"}
                    r = client.get("/funding_monitor/latest-rates-async", params=params)
                    task_id = r.json()["task_id"] if r.status_code == 200 else None
                code = str(r.status_code)
                if task_id is not None:
                    with rec.lock:
                        rec.tasks.append((rec.phase, task_id))
            except httpx.HTTPError as e:
                code = type(e).__name__
            rec.record(code, (time.perf_counter() - t0) * 1000)
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--before", type=float, default=10.0)
    p.add_argument("--down", type=float, default=20.0)
    p.add_argument("--after", type=float, default=20.0)
    args = p.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rec = Recorder()
    timeline: list[tuple[float, str]] = []
    with RedisServer(persistent=True) as redis:  # keeps its data across the restart
        env = {
            "PORT": str(port),
            "MARKET": "sim",
            "REDIS_URL": redis.url,
            "TASK_BACKEND": "saq",
            "LOG_LEVEL": "WARNING",
            "SYMBOLS_LIMIT": "50",
            "FUNDING_CHECK_INTERVAL": "5",
            "SUBMIT_RATE_PER_MIN": "0",
            "PYTHONPATH": str(ROOT),
        }
        with PerpwatchProcess(["serve"], env=env) as server:
            server.wait_http(f"{url}/health/ready", timeout_s=120)
            symbols = httpx.get(f"{url}{API}/scheduler/status").json()["data"]["symbols"]
            stop = threading.Event()
            threads = [
                threading.Thread(target=reader, args=(url, rec, stop, symbols), daemon=True)
                for _ in range(2)
            ] + [threading.Thread(target=submitter, args=(url, rec, stop), daemon=True)]
            for t in threads:
                t.start()
            t0 = time.monotonic()
            monitor = httpx.Client(base_url=url, timeout=10)

            def watch(until: float) -> None:
                while time.monotonic() < until:
                    kind = monitor.get(f"{API}/cache-stats").json()["data"]["cache_type"]
                    timeline.append((round(time.monotonic() - t0, 2), kind))
                    time.sleep(0.2)

            watch(t0 + args.before)
            redis.stop()
            stopped_at = time.monotonic() - t0
            rec.phase = "down"
            watch(time.monotonic() + args.down)
            redis.start()
            started_at = time.monotonic() - t0
            rec.phase = "after"
            watch(time.monotonic() + args.after)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            # every task submitted during the outage must finish and stay answerable
            outcomes: dict[str, dict[str, int]] = {}
            deadline = time.monotonic() + 90
            pending = list(rec.tasks)
            while pending and time.monotonic() < deadline:
                still = []
                for phase, task_id in pending:
                    r = monitor.get(f"/funding_monitor/task-status/{task_id}")
                    body = r.json()
                    status = (
                        body["task_status"]["status"]
                        if r.status_code == 200
                        else f"HTTP {r.status_code}: {body.get('message', '')[:80]}"
                    )
                    if status in ("queued", "running"):
                        still.append((phase, task_id))
                    else:
                        by = outcomes.setdefault(phase, {})
                        by[status] = by.get(status, 0) + 1
                pending = still
                time.sleep(0.5)
            for phase, _ in pending:
                by = outcomes.setdefault(phase, {})
                by["unfinished"] = by.get("unfinished", 0) + 1
            health = monitor.get("/health").json()["data"]
            monitor.close()
    back = next((t for t, k in timeline if t > started_at and k == "redis"), None)
    switched = next((t for t, k in timeline if t > stopped_at and k == "memory"), None)
    result = {
        "redis_stopped_at_s": round(stopped_at, 2),
        "redis_started_at_s": round(started_at, 2),
        "memory_mode_seen_after_s": None if switched is None else round(switched - stopped_at, 2),
        "back_on_redis_after_s": None if back is None else round(back - started_at, 2),
        "responses": rec.codes,
        "responses_5xx": sum(n for c in rec.codes.values() for k, n in c.items() if k[0] == "5"),
        "transport_errors": sum(
            n for c in rec.codes.values() for k, n in c.items() if not k.isdigit()
        ),
        "latency_ms": {
            ph: {
                "p50": round(percentile(v, 50), 2),
                "p99": round(percentile(v, 99), 2),
                "max": round(max(v), 2),
            }
            for ph, v in rec.latency.items()
        },
        "tasks_submitted": {ph: sum(1 for p, _ in rec.tasks if p == ph) for ph in rec.codes},
        "task_outcomes": outcomes,
        "redis_outages_seen": health["redis"]["outages"],
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
