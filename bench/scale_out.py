"""Scale-out: cycle time of N symbols at 100 ms exchange latency with 1 and 2 workers.

For each worker count, a fresh setup: a private ``redis-server``, ``perpwatch emulator``
(``--latency-ms 100 --symbols 520``), and N ``perpwatch worker`` processes (the real ccxt
``binanceusdm`` client, ``TASK_BACKEND=saq``, shards on Redis, one of them leads the
schedule). Cycles run back to back on a short schedule (``HAMA_SCHEDULER_INTERVAL=0.5``
minutes, ``HAMA_CACHE_TTL=600``). Each finished cycle is read from ``hama:scheduler:state``
(``last_run``: started, finished, ok, failed, the shard board), and the exchange weight
it cost from the emulator's ``/_emulator/stats``, which is reset after every cycle. The
first cycle loads every symbol's full history (``limit=499``); later ones are
incremental. Three cycles by default: the second starts in the first's minute of ccxt's
per-process weight window, the third is a warm cycle in the steady state. Also
recorded: the CPU seconds each process used during each cycle, and what other processes
used meanwhile, since the machine may have fewer cores than processes, and be shared.

Nothing in the package is tuned; ``--env K=V`` lays extra settings over the workers'
environment (to measure what a setting does), and is reported with the run.

    python bench/scale_out.py [--workers 1,2] [--symbols 500] [--cycles 3] [--env K=V ...]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import time
from collections import Counter
from typing import Any

import httpx
import redis

from bench.common import ROOT, machine
from bench.cpu_account import CpuAccount, usage, wait_for_quiet
from bench.lifetime import OwnedProcess, OwnedRedis, bounded, emulator
from bench.provenance import code_state

STATE_KEY = "hama:scheduler:state"
POLL_S = 0.1
DEFAULTS = {"REFRESH_SHARD_SIZE": "25", "WORKER_SHARD_SLOTS": "2", "REFRESH_CONCURRENCY": "16"}


Sample = tuple[float, float, dict[str, float]]


def nearest(samples: list[Sample], at: float) -> Sample:
    return min(samples, key=lambda s: abs(s[0] - at))


def shard_split(last_run: dict[str, Any]) -> dict[str, int]:
    """Symbols per worker in a cycle, from its shard board."""
    board = (last_run.get("shards") or {}).get("shards") or []
    out: Counter[str] = Counter()
    for s in board:
        out[str(s.get("worker"))] += int(s.get("symbols") or 0)
    return dict(out)


def shard_times(last_run: dict[str, Any]) -> dict[str, float | None]:
    """p50 and max of the shards' durations in a cycle."""
    board = (last_run.get("shards") or {}).get("shards") or []
    times = sorted(float(s["duration_s"]) for s in board if s.get("duration_s") is not None)
    if not times:
        return {"p50_s": None, "max_s": None}
    return {"p50_s": round(times[len(times) // 2], 3), "max_s": round(times[-1], 3)}


def one_setup(
    workers: int,
    *,
    symbols: int,
    latency_ms: float,
    cycles: int,
    interval_min: float,
    extra_env: dict[str, str],
    run_timeout_s: float,
) -> dict[str, Any]:
    emu_symbols = symbols + 20
    quiet = wait_for_quiet()
    with (
        OwnedRedis() as rds,
        emulator(latency_ms=latency_ms, symbols=emu_symbols) as (emu_url, emu_proc),
        contextlib.ExitStack() as stack,
    ):
        env = {
            "PYTHONPATH": str(ROOT),
            "LOG_LEVEL": "WARNING",
            "MARKET": "binanceusdm",
            "EXCHANGE_API_URL": emu_url,
            "REDIS_URL": rds.url,
            "TASK_BACKEND": "saq",
            "SYMBOLS_LIMIT": str(symbols),
            "FUNDING_CHECK_ENABLED": "false",
            "HAMA_SCHEDULER_INTERVAL": str(interval_min),
            "HAMA_CACHE_TTL": "600",
            **extra_env,
        }
        client = redis.Redis.from_url(rds.url, socket_timeout=2.0)
        stack.callback(client.close)
        emu = httpx.Client(base_url=emu_url, timeout=5.0)
        stack.callback(emu.close)
        emu.post("/_emulator/reset").raise_for_status()
        t_boot = time.time()
        procs = [stack.enter_context(OwnedProcess(["worker"], env=env)) for _ in range(workers)]
        roots = {"emulator": emu_proc.pid, "redis": rds.pid}
        roots |= {f"worker{i + 1}": p.pid for i, p in enumerate(procs)}
        account = CpuAccount(roots)
        samples: list[Sample] = []
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        deadline = time.monotonic() + run_timeout_s
        skipped = 0
        while len(results) < cycles:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{workers} worker(s): only {len(results)} of {cycles} cycles within "
                    f"{run_timeout_s:.0f}s\n{procs[0].log_tail()}"
                )
            for p in procs:
                if not p.running():
                    raise RuntimeError(f"a worker exited ({p.returncode})\n{p.log_tail()}")
            samples.append(account.sample())
            raw = client.get(STATE_KEY)
            state = json.loads(raw) if raw else {}
            last = state.get("last_run") or {}
            cid = last.get("cycle_id")
            if cid and last.get("finished") and cid not in seen:
                stats = emu.get("/_emulator/stats").json()
                emu.post("/_emulator/reset").raise_for_status()
                seen.add(cid)
                skipped = int(state.get("runs_skipped", 0))
                started, finished = float(last["started"]), float(last["finished"])
                wall = finished - started
                cpu = usage(nearest(samples, started), nearest(samples, finished))
                limits = Counter(stats.get("klines_limits") or [])
                results.append(
                    {
                        "cycle": len(results) + 1,
                        "cycle_id": cid,
                        "started_after_boot_s": round(started - t_boot, 2),
                        "duration_s": round(wall, 2),
                        "ok": last.get("ok"),
                        "failed": last.get("failed"),
                        "failures": dict(list((last.get("failures") or {}).items())[:3]),
                        "symbols_per_s": round(int(last.get("ok") or 0) / wall, 1),
                        "weight_total": stats["weight_total"],
                        "weight_by_path": stats["weight_by_path"],
                        "requests": stats["requests"],
                        "klines_limits": {str(k): v for k, v in sorted(limits.items())},
                        "responses_429": stats.get("responses_429", 0),
                        "shards": (last.get("shards") or {}).get("total"),
                        "symbols_by_worker": shard_split(last),
                        "shard_duration": shard_times(last),
                        "cpu": cpu,
                    }
                )
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            time.sleep(POLL_S)
    return {"workers": workers, "cycles": results, "runs_skipped": skipped, "before": quiet}


HEADING = "Scale-out: one cycle of"


def _cycle_label(c: dict[str, Any]) -> str:
    limits = c.get("klines_limits") or {}
    if "499" in limits:
        return "first (full loads)"
    return f"#{c['cycle']}, warm, started {c['started_after_boot_s']:.0f} s after boot"


def section(result: dict[str, Any], variants: list[dict[str, Any]] | None = None) -> str:
    """The docs/benchmarks.md section of one run (and runs with other settings)."""
    s = result["settings"]
    lines = [
        f"## {HEADING} {result['symbols']} symbols with 1 and 2 workers, "
        f"emulator at {result['latency_ms']:.0f} ms latency",
        "",
        f"`bench/scale_out.py`, measured {result.get('measured_at', '')} on "
        f"{result['machine']}, code {result.get('code', '?')}: for each worker count a fresh "
        f"redis-server, `perpwatch emulator --latency-ms {result['latency_ms']:.0f} --symbols "
        f"{result['symbols'] + 20}` and N `perpwatch worker` processes (ccxt `binanceusdm`, "
        f"`TASK_BACKEND=saq`, `SYMBOLS_LIMIT={result['symbols']}`, "
        f"`HAMA_SCHEDULER_INTERVAL={result['interval_min']}`, `HAMA_CACHE_TTL=600`, "
        f"`REFRESH_SHARD_SIZE={s['REFRESH_SHARD_SIZE']}`, "
        f"`WORKER_SHARD_SLOTS={s['WORKER_SHARD_SLOTS']}`, "
        f"`REFRESH_CONCURRENCY={s['REFRESH_CONCURRENCY']}`: the defaults). Cycle times are the "
        "leader's (`hama:scheduler:state`), the weight is the emulator's count for the cycle "
        "(reset after each). All processes share the machine's cores, the emulator's "
        "included; *others* is the CPU that processes this bench did not start used meanwhile "
        "(the machine is shared), as a share of all cores.",
        "",
    ]
    for res in [result, *(variants or [])]:
        if res is not result:
            extra = ", ".join(f"`{k}={v}`" for k, v in res["settings"].items() if s.get(k) != v)
            lines += [f"With {extra}:", ""]
        lines += [
            "| workers | cycle | time | symbols/s | ok / failed | weight (klines `limit`) "
            "| symbols per worker | shard p50 / max | CPU: ours / others |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for run in res["runs"]:
            for c in run["cycles"]:
                limits = ", ".join(f"{k} ×{v}" for k, v in c["klines_limits"].items())
                split = " + ".join(str(v) for v in c["symbols_by_worker"].values())
                cpu = c["cpu"]
                lines.append(
                    f"| {run['workers']} | {_cycle_label(c)} | {c['duration_s']:.2f} s "
                    f"| {c['symbols_per_s']:.0f} | {c['ok']} / {c['failed']} "
                    f"| {c['weight_total']} ({limits}) | {split} "
                    f"| {c['shard_duration']['p50_s']} / {c['shard_duration']['max_s']} s "
                    f"| {cpu['ours_pct_of_machine']:.0f} % / {cpu['others_pct_of_machine']:.0f} % |"
                )
        lines.append("")
    every = [c for r in [result, *(variants or [])] for run in r["runs"] for c in run["cycles"]]
    too_many = sum(int(c["responses_429"]) for c in every)
    lines += [
        "How to read it: a worker runs `WORKER_SHARD_SLOTS` shards at once, each of "
        "`REFRESH_SHARD_SIZE` symbols refreshed `REFRESH_CONCURRENCY` at a time, so one worker "
        "has at most slots × min(size, concurrency) exchange requests in flight, and a shard of "
        "25 at 16 at a time takes two rounds of exchange latency. ccxt's own limiter allows "
        "each process 1200 weight per rolling minute (half of Binance's 2400), so a cycle that "
        "starts less than a minute after a first load (1000+ weight) in the same process waits "
        "for that window; a second worker has its own window (the IP's real count is guarded "
        "by the weight budget at 2160). 429 answers from the emulator in these runs: "
        f"{too_many}.",
        "",
    ]
    return "\n".join(lines)


def parse_env(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise SystemExit(f"--env wants KEY=VALUE, got {item!r}")
        out[k] = v
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="1,2", help="worker counts, one fresh setup each")
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--cycles", type=int, default=3, help="cycles per setup (first + warm ones)")
    p.add_argument("--interval-min", type=float, default=0.5)
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the workers")
    p.add_argument("--run-timeout", type=float, default=140.0, help="seconds per setup")
    args = p.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x]
    extra = parse_env(args.env)
    runs: list[dict[str, Any]] = []
    # per setup: waiting for a quiet machine (60 s at most), the run, starting and stopping
    with bounded((args.run_timeout + 120) * len(counts) + 60):
        for n in counts:
            runs.append(
                one_setup(
                    n,
                    symbols=args.symbols,
                    latency_ms=args.latency_ms,
                    cycles=args.cycles,
                    interval_min=args.interval_min,
                    extra_env=extra,
                    run_timeout_s=args.run_timeout,
                )
            )
    result = {
        "symbols": args.symbols,
        "latency_ms": args.latency_ms,
        "interval_min": args.interval_min,
        "settings": {**DEFAULTS, **extra},
        "machine": machine(),
        "code": code_state(),
        "measured_at": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "runs": runs,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
