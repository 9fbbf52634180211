"""Soak: perpwatch under steady load with a compressed schedule, RSS sampled over time.

Runs ``perpwatch serve`` in its own process (simulated market, real Redis, refresh every
6 s with a 10 s TTL, funding check every 2 s, task results kept 120 s instead of an hour)
and drives it from this process with cache reads, forced refreshes, task submissions and
status polls. Every ``--sample-s`` seconds
it records the server's resident memory (VmRSS). Memory must stay flat: the script
compares the mean RSS of the first and the last fifth of the run after warm-up.

    python scripts/soak.py [--minutes 30] [--out docs/soak-rss.csv]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, PerpwatchProcess, RedisServer, free_port

API = "/api/gainer-analysis"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def load(url: str, stop: threading.Event, counts: dict[str, int], seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30) as client:
        symbols = client.get(f"{API}/scheduler/status").json()["data"]["symbols"]
        task_ids: list[str] = []
        while not stop.is_set():
            roll = rng.random()
            try:
                if roll < 0.80:
                    r = client.post(f"{API}/analyze-symbol", json={"symbol": rng.choice(symbols)})
                elif roll < 0.83:
                    body = {"symbol": rng.choice(symbols), "force_refresh": True}
                    r = client.post(f"{API}/analyze-symbol", json=body)
                elif roll < 0.88:
                    params = {"fast_mode": rng.choice(["true", "false"])}
                    r = client.get("/funding_monitor/latest-rates-async", params=params)
                    if r.status_code == 200:
                        task_ids.append(r.json()["task_id"])
                        task_ids = task_ids[-50:]
                elif roll < 0.95 and task_ids:
                    r = client.get(f"/funding_monitor/task-status/{rng.choice(task_ids)}")
                else:
                    r = client.get(f"{API}/signals")
                key = "5xx" if r.status_code >= 500 else str(r.status_code)
                counts[key] = counts.get(key, 0) + 1
            except httpx.HTTPError as e:
                counts[type(e).__name__] = counts.get(type(e).__name__, 0) + 1
            time.sleep(0.01)


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        raw = (task / "children").read_text().split()
        out.extend(int(c) for c in raw)
    return out


def role_pids(pid: int) -> dict[str, int]:
    """The API process and, under it, its worker child (the scheduler leader)."""
    pids = {"api": pid}
    for child in children(pid):
        argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"worker" in argv and any(a.startswith(b"perpwatch") for a in argv):
            pids["worker"] = child
    return pids


def summarize(samples: list[tuple[float, int]], warmup_s: float) -> dict[str, float]:
    warm = [r for t, r in samples if t >= warmup_s] or [r for _, r in samples]
    fifth = max(1, len(warm) // 5)
    first, last = sum(warm[:fifth]) / fifth, sum(warm[-fifth:]) / fifth
    return {
        "rss_start_mib": round(samples[0][1] / 1024, 1),
        "rss_end_mib": round(samples[-1][1] / 1024, 1),
        "rss_max_mib": round(max(r for _, r in samples) / 1024, 1),
        "rss_first_fifth_mib": round(first / 1024, 1),
        "rss_last_fifth_mib": round(last / 1024, 1),
        "growth_pct": round((last - first) / first * 100, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--sample-s", type=float, default=15.0)
    p.add_argument("--warmup-s", type=float, default=300.0)
    p.add_argument("--out", default=str(ROOT / "docs" / "soak-rss.csv"))
    p.add_argument(
        "--setup",
        choices=["roles", "single"],
        default="roles",
        help="roles: the make-serve setup (API + a worker child + its own Redis), "
        "each process sampled; single: one perpwatch serve doing everything",
    )
    args = p.parse_args(argv)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    samples: dict[str, list[tuple[float, int]]] = {}
    counts: dict[str, int] = {}
    with RedisServer() as redis:
        env = {
            "PORT": str(port),
            "MARKET": "sim",
            "LOG_LEVEL": "WARNING",
            "HAMA_SCHEDULER_INTERVAL": "0.1",
            "HAMA_CACHE_TTL": "10",
            "SYMBOLS_LIMIT": "160",
            "FUNDING_CHECK_INTERVAL": "2",
            "SUBMIT_RATE_PER_MIN": "0",
            "TASK_RESULT_TTL": "120",
            "PYTHONPATH": str(ROOT),
        }
        if args.setup == "roles":
            env.update({"EMBEDDED_REDIS": "true", "SERVE_WORKERS": "1"})
        else:
            env["REDIS_URL"] = redis.url
        with PerpwatchProcess(["serve"], env=env) as proc:
            proc.wait_http(f"{url}/health/ready", timeout_s=120)
            stop = threading.Event()
            workers = [
                threading.Thread(target=load, args=(url, stop, counts, n), daemon=True)
                for n in range(2)
            ]
            for w in workers:
                w.start()
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            while True:
                at = round(time.monotonic() - t0, 1)
                line = [f"{at:8.1f}s"]
                for role, pid in role_pids(proc.pid).items():
                    samples.setdefault(role, []).append((at, rss_kib(pid)))
                    line.append(f"{role} {samples[role][-1][1] / 1024:7.1f} MiB")
                print("  ".join(line), flush=True)
                if time.monotonic() >= end:
                    break
                time.sleep(args.sample_s)
            stop.set()
            for w in workers:
                w.join(timeout=30)
            status = httpx.get(f"{url}{API}/scheduler/status").json()["data"]
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    roles = sorted(samples)
    rows = {t: {} for t, _ in samples["api"]}
    for role in roles:
        for t, r in samples[role]:
            rows.setdefault(t, {})[role] = r
    out.write_text(
        "seconds," + ",".join(f"{r}_rss_kib" for r in roles) + "\n"
        + "".join(f"{t}," + ",".join(str(v.get(r, "")) for r in roles) + "\n"
                  for t, v in sorted(rows.items()))
    )  # fmt: skip
    result: dict[str, Any] = {
        "setup": args.setup,
        "minutes": args.minutes,
        "requests": counts,
        "refresh_runs": status["runs"],
        "runs_skipped": status["runs_skipped"],
        "roles": {role: summarize(samples[role], args.warmup_s) for role in roles},
        "csv": str(out),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
