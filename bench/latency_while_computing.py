"""API latency while a full cycle computes: analyze-symbol cache hits and task submits.

During one full HAMA cycle of N symbols (first load included: every symbol's full
history at ``limit=499``) at 100 ms exchange latency, and funding refreshes of three
exchanges (``binanceusdm``, ``bybit``, ``okx``, all served by ``perpwatch emulator``),
two load threads send, each at a fixed rate (open loop, 50 a second by default):

* ``POST /api/gainer-analysis/analyze-symbol`` for symbols that are already cached (cache
  hits), and
* ``GET /funding_monitor/latest-rates-async`` (task submits; the tasks they create are the
  funding refreshes, deduplicated while one is running).

A request is due every ``1/rate`` s from the thread's start, and its latency is measured
from its due time, not from when it was sent, so a stalled server counts in full
(no coordinated omission). Each thread has one keep-alive connection (stdlib
``http.client``), loopback only. Both threads stop at the end of the cycle plus a few
seconds, and at ``--max-s`` at the latest.

The cache-hit targets are the listed symbols that the cycle does not watch: the emulator
lists N + 20 perpetuals, the schedule watches the top N by volume, and the 20 others are
computed once (a cache miss) before the cycle starts (in the ``redis`` setup by a worker
that never leads, stopped before the measured one starts, since an API replica may hand a
miss to the workers). So every analyze-symbol request is a hit, and the cycle still loads
all N histories from scratch.

Setups (``--setup``):

``redis``
    One ``perpwatch serve`` as a pure API (``PROCESS_SHARDS=false
    HAMA_SCHEDULER_AUTO_START=false TASK_BACKEND=saq TASK_LOCAL_WORKER=false``) and one
    ``perpwatch worker`` on one redis-server; the cycle starts when the worker starts (it
    leads the schedule, takes the shards and executes the tasks).
``make-serve``
    What ``make serve`` runs: its environment is read from the Makefile's ``serve`` recipe
    (or given with ``--setup-env K=V,K=V``), with the bench's overrides laid over it
    (``MARKET=binanceusdm`` against the emulator, the symbols, the exchanges). If it names
    a setting that this perpwatch does not know (say ``SERVE_WORKERS`` before it exists),
    the setup falls back to ``REDIS_ENABLED=false`` and says so. The schedule is held
    (``HAMA_SCHEDULER_AUTO_START=false``) until the hit targets are cached, and the cycle
    is started with ``POST /api/gainer-analysis/scheduler/start`` (``--start api``). With
    ``SERVE_WORKERS`` the serve is a pure API whose worker children inherit its
    environment, so only their own auto start can begin the cycle: ``--start auto``
    (chosen by default then) leaves it alone, computes the targets while the cycle
    begins, and starts the load after that; the report says how much of the cycle the
    load covered.

    python bench/latency_while_computing.py [--setup redis,make-serve] [--symbols 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from bench.common import ROOT, free_port, machine, percentile
from bench.cpu_account import CpuAccount, usage, wait_for_quiet
from bench.lifetime import OwnedProcess, OwnedRedis, bounded, emulator
from bench.provenance import code_state
from perpwatch.settings import Settings

API = "/api/gainer-analysis"
SUBMIT = "/funding_monitor/latest-rates-async"
EXCHANGES = "binanceusdm,bybit,okx"
EXTRA_LISTED = 20  # listed, not watched: the cache-hit targets
SEED_BOUND_S = 90.0


# --- the load ------------------------------------------------------------------------


CpuSample = tuple[float, float, dict[str, float]]


def nearest(samples: list[CpuSample], at: float) -> CpuSample:
    return min(samples, key=lambda s: abs(s[0] - at))


@dataclass
class Sample:
    due: float  # epoch seconds the request was due
    latency_ms: float  # from its due time to the end of its response
    status: int  # HTTP status, 0 for a transport error
    note: str = ""  # "hit"/"miss" (analyze), task id (submit), or the error


@dataclass
class LoadThread:
    """One thread, one keep-alive connection, one request due every ``period_s``."""

    name: str
    port: int
    make_request: Callable[[int], tuple[str, str, bytes | None, dict[str, str]]]
    read_note: Callable[[int, bytes], str]
    period_s: float
    max_requests: int
    stop: threading.Event
    samples: list[Sample] = field(default_factory=list)
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()

    def join(self, timeout_s: float) -> None:
        if self.thread is not None:
            self.thread.join(timeout_s)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        t0_perf, t0_wall = time.perf_counter(), time.time()
        try:
            for i in range(self.max_requests):
                if self.stop.is_set():
                    return
                due = t0_perf + i * self.period_s
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                method, path, body, headers = self.make_request(i)
                try:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException) as e:
                    elapsed = (time.perf_counter() - due) * 1000
                    self.samples.append(Sample(t0_wall + i * self.period_s, elapsed, 0, repr(e)))
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                    continue
                elapsed = (time.perf_counter() - due) * 1000
                note = self.read_note(status, raw)
                self.samples.append(Sample(t0_wall + i * self.period_s, elapsed, status, note))
        finally:
            conn.close()


def analyze_note(status: int, raw: bytes) -> str:
    if status != 200:
        return raw[:120].decode(errors="replace")
    try:
        return "hit" if json.loads(raw)["data"].get("cached") else "miss"
    except (ValueError, KeyError, TypeError, AttributeError):
        return "unreadable"


def submit_note(status: int, raw: bytes) -> str:
    if status != 200:
        return raw[:120].decode(errors="replace")
    try:
        body = json.loads(raw)
        return f"{body['task_id']}{' dedup' if body.get('deduplicated') else ''}"
    except (ValueError, KeyError, TypeError):
        return "unreadable"


def summarize(samples: list[Sample], lo: float, hi: float) -> dict[str, Any]:
    """Latency figures of the requests due in [lo, hi] (epoch seconds)."""
    window = [s for s in samples if lo <= s.due <= hi]
    ok = [s for s in window if s.status == 200]
    lat = [s.latency_ms for s in window]
    return {
        "requests": len(window),
        "errors": len(window) - len(ok),
        "p50_ms": round(percentile(lat, 50), 3) if lat else None,
        "p99_ms": round(percentile(lat, 99), 3) if lat else None,
        "max_ms": round(max(lat), 1) if lat else None,
        "over_10ms": sum(1 for x in lat if x >= 10.0),
    }


def worst_seconds(samples: list[Sample], origin: float, n: int = 5) -> list[list[float]]:
    """The ``n`` whole seconds (counted from ``origin``, the start of the measured window)
    with the slowest requests: [second, its max latency ms, requests due in it]."""
    by_second: dict[int, list[float]] = {}
    for s in samples:
        by_second.setdefault(math.floor(s.due - origin), []).append(s.latency_ms)
    worst = sorted(by_second.items(), key=lambda kv: max(kv[1]), reverse=True)[:n]
    return [[sec, round(max(v), 1), len(v)] for sec, v in sorted(worst)]


# --- the setups ----------------------------------------------------------------------


def makefile_serve_env() -> dict[str, str]:
    """The ``VAR=value`` words before ``perpwatch serve`` in the Makefile's serve recipe."""
    text = (ROOT / "Makefile").read_text()
    m = re.search(r"^serve:[^\n]*\n((?:\t[^\n]*\n)+)", text, re.MULTILINE)
    if not m:
        return {}
    for line in m.group(1).splitlines():
        if "perpwatch serve" in line:
            words = line.split("perpwatch serve")[0].split()
            return dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_][A-Z0-9_]*=", w))
    return {}


def unknown_settings(env: dict[str, str]) -> list[str]:
    known = {name.upper() for name in Settings.model_fields}
    for f in Settings.model_fields.values():
        if isinstance(f.validation_alias, str):
            known.add(f.validation_alias.upper())
        if f.alias:
            known.add(f.alias.upper())
    return sorted(k for k in env if k.upper() not in known)


def parse_kv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        k, sep, v = item.partition("=")
        if not sep:
            raise SystemExit(f"--setup-env wants K=V,K=V; got {item!r}")
        out[k] = v
    return out


def hit_targets(emu_url: str, watched: int) -> list[str]:
    """Listed USDT perpetuals ranked below ``watched`` by 24h quote volume."""
    info = httpx.get(f"{emu_url}/fapi/v1/exchangeInfo", timeout=10).json()
    tickers = httpx.get(f"{emu_url}/fapi/v1/ticker/24hr", timeout=10).json()
    volume = {t["symbol"]: float(t["quoteVolume"]) for t in tickers}
    perps = [
        s["symbol"]
        for s in info["symbols"]
        if s.get("contractType") == "PERPETUAL"
        and s.get("quoteAsset") == "USDT"
        and s.get("status") == "TRADING"
    ]
    perps.sort(key=lambda s: volume.get(s, 0.0), reverse=True)
    return perps[watched:]


def seed(api_url: str, symbols: list[str]) -> tuple[list[str], dict[str, str]]:
    """Compute every target once (a miss; all at once, so a cycle already running delays
    it little), then check each is a hit; (hits, failures). The misses are bounded by
    SEED_BOUND_S together, each check by 5 s."""

    async def go() -> tuple[list[str], dict[str, str]]:
        ok: list[str] = []
        failed: dict[str, str] = {}
        async with httpx.AsyncClient(base_url=api_url, timeout=SEED_BOUND_S) as c:

            async def miss(symbol: str) -> None:
                with contextlib.suppress(httpx.HTTPError):
                    await c.post(f"{API}/analyze-symbol", json={"symbol": symbol})

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(miss(x) for x in symbols)), timeout=SEED_BOUND_S
                )
            for x in symbols:  # a hit answers at once: 5 s each at most
                try:
                    r = await c.post(f"{API}/analyze-symbol", json={"symbol": x}, timeout=5.0)
                except httpx.HTTPError as e:
                    failed[x] = repr(e)
                    continue
                if r.status_code == 200 and r.json()["data"].get("cached"):
                    ok.append(x)
                else:
                    failed[x] = f"{r.status_code} {r.text[:100]}"
        return ok, failed

    return asyncio.run(go())


def bench_env(emu_url: str, symbols: int) -> dict[str, str]:
    return {
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "WARNING",
        "MARKET": "binanceusdm",
        "EXCHANGE_API_URL": emu_url,
        "SYMBOLS_LIMIT": str(symbols),
        "FUNDING_EXCHANGES": EXCHANGES,
        "FUNDING_CHECK_ENABLED": "false",  # the submits start the funding refreshes
        "HAMA_CACHE_TTL": "600",
        "SUBMIT_RATE_PER_MIN": "0",  # one client at 50/s would exhaust its bucket
    }


def klines_requests(emu: httpx.Client) -> int:
    return int(emu.get("/_emulator/stats").json()["requests"].get("/fapi/v1/klines", 0))


def cycle_of(api_url: str) -> dict[str, Any] | None:
    status = httpx.get(f"{api_url}{API}/scheduler/status", timeout=10).json()["data"]
    return status.get("last_run")


def run_setup(
    name: str,
    *,
    symbols: int,
    latency_ms: float,
    rate: float,
    max_s: float,
    tail_s: float,
    setup_env: dict[str, str],
    start: str,
) -> dict[str, Any]:
    """One setup (its own emulator, Redis and processes), one measured cycle."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    note = ""
    with contextlib.ExitStack() as stack:
        quiet = wait_for_quiet()
        emu_url, emu_proc = stack.enter_context(
            emulator(latency_ms=latency_ms, symbols=symbols + EXTRA_LISTED)
        )
        base = bench_env(emu_url, symbols)
        worker_env: dict[str, str] | None = None
        roots = {"emulator": emu_proc.pid}
        if name == "redis":
            rds = stack.enter_context(OwnedRedis())
            roots["redis"] = rds.pid
            common = {**base, "REDIS_URL": rds.url, "TASK_BACKEND": "saq"}
            api_env = {
                **common,
                "PROCESS_SHARDS": "false",
                "HAMA_SCHEDULER_AUTO_START": "false",
                "TASK_LOCAL_WORKER": "false",
            }
            worker_env = common
        else:
            unknown = unknown_settings(setup_env)
            if unknown:
                note = (
                    f"`make serve` sets {', '.join(unknown)}, unknown to this perpwatch: "
                    "ran REDIS_ENABLED=false instead"
                )
                setup_env = {"REDIS_ENABLED": "false"}
            api_env = {**setup_env, **base}
            if start == "detect":
                # with worker children the serve is a pure API and its workers inherit its
                # environment: only their own auto start can begin the cycle
                start = "auto" if int(setup_env.get("SERVE_WORKERS", "0") or 0) else "api"
            if start == "api":
                api_env["HAMA_SCHEDULER_AUTO_START"] = "false"
        api_env["PORT"] = str(port)
        api = stack.enter_context(OwnedProcess(["serve"], env=api_env))
        roots["api"] = api.pid  # with its children (an embedded Redis, worker children)
        emu = stack.enter_context(httpx.Client(base_url=emu_url, timeout=10))
        candidates = hit_targets(emu_url, symbols)
        emu.post("/_emulator/reset").raise_for_status()  # counts from here: seeds + cycle
        api.wait_http(f"{api_url}/health", timeout_s=120)
        if worker_env is not None:
            # an API replica may hand a miss to the workers: a worker that never leads
            # computes the targets, and is gone before the measured worker starts
            with OwnedProcess(["worker", "--no-scheduler"], env=worker_env):
                targets, seed_failures = seed(api_url, candidates)
        else:
            targets, seed_failures = seed(api_url, candidates)
        if not targets:
            raise RuntimeError(f"no cache-hit target could be computed: {seed_failures}")
        klines_expected = symbols + len(candidates)  # one full load each
        stop = threading.Event()
        stack.callback(stop.set)  # the threads end with the setup, whatever happens
        max_requests = int(max_s * rate) + 1
        bodies = [json.dumps({"symbol": s}).encode() for s in targets]
        hdr = {"content-type": "application/json"}
        threads = [
            LoadThread(
                "analyze",
                port,
                lambda i: ("POST", f"{API}/analyze-symbol", bodies[i % len(bodies)], hdr),
                analyze_note,
                1 / rate,
                max_requests,
                stop,
            ),
            LoadThread(
                "submit",
                port,
                lambda i: ("GET", f"{SUBMIT}?fast_mode={'true' if i % 2 else 'false'}", None, {}),
                submit_note,
                1 / rate,
                max_requests,
                stop,
            ),
        ]
        t_load = time.time()
        for t in threads:
            t.start()
        time.sleep(1.0)  # a second of load before the cycle
        t_cycle_asked = time.time()
        worker = None
        if worker_env is not None:
            worker = stack.enter_context(OwnedProcess(["worker"], env=worker_env))
        elif start == "api":
            httpx.post(f"{api_url}{API}/scheduler/start", timeout=10).raise_for_status()
        if worker is not None:
            roots["worker"] = worker.pid
        account = CpuAccount(roots)
        samples = [account.sample()]
        deadline = t_load + max_s
        fetched_at: float | None = None
        while time.time() < deadline:
            if not api.running():
                raise RuntimeError(f"the API process exited\n{api.log_tail()}")
            if worker is not None and not worker.running():
                raise RuntimeError(f"the worker exited\n{worker.log_tail()}")
            if fetched_at is None and klines_requests(emu) >= klines_expected:
                fetched_at = time.time()  # every history fetched; analyses follow
            if fetched_at is not None and time.time() >= fetched_at + tail_s:
                break
            time.sleep(0.5)
            samples.append(account.sample())
        stop.set()
        for t in threads:
            t.join(15)
        t_end = time.time()
        samples.append(account.sample())
        cycle = None
        wait_until = time.time() + 60
        while time.time() < wait_until:  # the cycle's own record, the load stopped
            cycle = cycle_of(api_url)
            if cycle is not None and cycle.get("finished"):
                break
            time.sleep(0.5)
        stats = emu.get("/_emulator/stats").json()
    return report(
        name,
        threads,
        cycle,
        stats,
        t_load=t_load,
        t_cycle_asked=t_cycle_asked,
        t_end=t_end,
        targets=targets,
        seed_failures=seed_failures,
        note=note,
        start=start if name != "redis" else "worker",
        setup_env={} if name == "redis" else setup_env,
        env=api_env,
        rate=rate,
        samples=samples,
        quiet=quiet,
    )


def iso_epoch(text: str | float | None) -> float | None:
    if text is None:
        return None
    if isinstance(text, int | float):
        return float(text)
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def report(
    name: str,
    threads: list[LoadThread],
    cycle: dict[str, Any] | None,
    stats: dict[str, Any],
    *,
    t_load: float,
    t_cycle_asked: float,
    t_end: float,
    targets: list[str],
    seed_failures: dict[str, str],
    note: str,
    start: str,
    setup_env: dict[str, str],
    env: dict[str, str],
    rate: float,
    samples: list[CpuSample],
    quiet: dict[str, float],
) -> dict[str, Any]:
    started = iso_epoch(cycle.get("started")) if cycle else None
    finished = iso_epoch(cycle.get("finished")) if cycle else None
    lo = max(started, t_load) if started is not None else t_cycle_asked
    hi = min(finished, t_end) if finished is not None else t_end
    covered = None
    if started is not None and finished is not None and finished > started:
        covered = round(100 * max(0.0, hi - lo) / (finished - started), 1)
    out: dict[str, Any] = {
        "setup": name,
        "note": note,
        "cycle_started_by": start,
        "setup_env": setup_env,
        "api_env": {k: v for k, v in env.items() if k not in ("PYTHONPATH", "EXCHANGE_API_URL")},
        "rate_per_s": rate,
        "hit_targets": len(targets),
        "seed_failures": seed_failures,
        "cycle": None
        if cycle is None
        else {
            "started_after_ask_s": None if started is None else round(started - t_cycle_asked, 2),
            "duration_s": cycle.get("duration_s"),
            "ok": cycle.get("ok"),
            "failed": cycle.get("failed"),
            "total": cycle.get("total"),
            "finished_within_load": finished is not None and finished <= t_end,
            "covered_by_load_pct": covered,
        },
        "load_s": round(t_end - t_load, 1),
        "emulator_requests": stats.get("requests", {}),
        "klines_limits": sorted(set(stats.get("klines_limits") or [])),
        "weight_total": stats.get("weight_total"),
        "weight_by_path": stats.get("weight_by_path", {}),
        "cpu_during_cycle": usage(nearest(samples, lo), nearest(samples, hi)),
        "before": quiet,
    }
    for t in threads:
        during = summarize(t.samples, lo, hi)
        whole = summarize(t.samples, t_load, t_end)
        entry: dict[str, Any] = {
            "during_cycle": during,
            "whole_run": whole,
            "worst_seconds": worst_seconds(t.samples, lo),
        }
        if t.name == "analyze":
            entry["not_hits"] = sum(1 for s in t.samples if s.status == 200 and s.note != "hit")
        else:
            ids = {s.note.split()[0] for s in t.samples if s.status == 200}
            entry["tasks_created"] = len(ids)
            entry["deduplicated"] = sum(1 for s in t.samples if s.note.endswith(" dedup"))
        errs = [s.note for s in t.samples if s.status != 200][:3]
        if errs:
            entry["first_errors"] = errs
        out[t.name] = entry
    return out


HEADING = "API latency while a cycle computes"
STARTED_BY = {
    "worker": "the cycle began when the worker started (it leads the schedule)",
    "api": "the cycle was started with `POST /api/gainer-analysis/scheduler/start`",
    "auto": "the cycle began by the setup's own auto start, before the load started",
}
TARGET_MS = 10.0


def _setup_label(s: dict[str, Any]) -> str:
    if s["setup"] == "redis":
        return "Redis: 1 pure API `serve` + 1 `worker`"
    shown = " ".join(f"{k}={v}" for k, v in s.get("setup_env", {}).items())
    return f"`make serve` ({shown}), as MARKET=binanceusdm"


def section(result: dict[str, Any]) -> str:
    """The docs/benchmarks.md section of one run."""
    lines = [
        f"## {HEADING}: analyze-symbol hits and task submits, {result['symbols']} symbols "
        f"at {result['latency_ms']:.0f} ms",
        "",
        f"`bench/latency_while_computing.py`, measured {result.get('measured_at', '')} on "
        f"{result['machine']}, code {result.get('code', '?')}: during one full cycle of "
        f"{result['symbols']} symbols (first load: every history at `limit=499`) against "
        f"`perpwatch emulator --latency-ms {result['latency_ms']:.0f}`, while the funding "
        f"refreshes of {result['exchanges'].replace(',', ', ')} that the submits start run, "
        "two client threads (stdlib `http.client`, one keep-alive connection each, loopback) "
        "send `POST /api/gainer-analysis/analyze-symbol` for cached symbols and "
        "`GET /funding_monitor/latest-rates-async`, 50 a second each, open loop: latency is "
        "measured from each request's due time, so a stall counts in full. Figures are for "
        f"the requests due during the cycle. Target: p99 under {TARGET_MS:.0f} ms for both. "
        "The emulator and Redis run on the same cores as perpwatch here; *others* is the CPU "
        "used meanwhile by processes the bench did not start (the machine is shared).",
        "",
        "| setup | cycle | endpoint | requests | p50 | p99 | max | ≥ 10 ms | errors "
        "| target | CPU: ours (emulator) / others |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in result["setups"]:
        c = s["cycle"] or {}
        cpu = s["cpu_during_cycle"]
        cores = psutil.cpu_count() or 1
        emu_pct = 100 * cpu["cpu_s"].get("emulator", 0.0) / (cpu["wall_s"] * cores)
        cycle = (
            f"{c.get('duration_s', 0):.1f} s, {c.get('ok')} ok / {c.get('failed')} failed, "
            f"{c.get('covered_by_load_pct')} % under load"
            if c
            else "did not finish within the bound"
        )
        for ep, label in (("analyze", "analyze-symbol (hit)"), ("submit", "latest-rates-async")):
            d = s[ep]["during_cycle"]
            met = d["p99_ms"] is not None and d["p99_ms"] < TARGET_MS and not d["errors"]
            extra = f", {s[ep]['not_hits']} not hits" if ep == "analyze" else ""
            extra += f", {s[ep]['tasks_created']} tasks" if ep == "submit" else ""
            lines.append(
                f"| {_setup_label(s)} | {cycle} | {label} | {d['requests']}{extra} "
                f"| {d['p50_ms']:.2f} ms | {d['p99_ms']:.1f} ms | {d['max_ms']:.0f} ms "
                f"| {d['over_10ms']} | {d['errors']} | {'met' if met else 'NOT met'} "
                f"| {cpu['ours_pct_of_machine']:.0f} % ({emu_pct:.0f} %) / "
                f"{cpu['others_pct_of_machine']:.0f} % |"
            )
    lines += [
        "",
        "The cache-hit targets are the 20 listed symbols below the watched "
        f"{result['symbols']} by volume, computed once before the load starts, so the cycle "
        "still loads every watched history from scratch. Each submit that finds no identical "
        "task running starts a new funding refresh, so refreshes run back to back for the "
        "whole cycle.",
        "",
    ]
    for s in result["setups"]:
        by_path = s.get("weight_by_path") or {}
        funding = by_path.get("/fapi/v1/premiumIndex", 0) + by_path.get("/fapi/v1/fundingInfo", 0)
        lines.append(
            f"- {_setup_label(s)}: Binance weight counted by the emulator over the whole run "
            f"(targets included) {s.get('weight_total')}, of which klines "
            f"{by_path.get('/fapi/v1/klines', 0)} and the funding refreshes {funding}; "
            f"{STARTED_BY.get(str(s.get('cycle_started_by')), 'the cycle began by itself')}."
            + (f" {s['note']}." if s.get("note") else "")
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setup", default="redis,make-serve", help="redis, make-serve, or both")
    p.add_argument(
        "--setup-env",
        default=None,
        help="K=V,K=V of the make-serve setup (default: from the Makefile)",
    )
    p.add_argument(
        "--start",
        choices=("detect", "api", "auto"),
        default="detect",
        help="make-serve: start the cycle through the API, or leave its auto start "
        "(detect: auto with SERVE_WORKERS, else api)",
    )
    p.add_argument("--symbols", type=int, default=500)
    p.add_argument("--latency-ms", type=float, default=100.0)
    p.add_argument("--rate", type=float, default=50.0, help="requests a second per endpoint")
    p.add_argument("--max-s", type=float, default=120.0, help="load bound per setup")
    p.add_argument("--tail-s", type=float, default=3.0, help="load after the last fetch")
    args = p.parse_args(argv)
    setups = [s for s in args.setup.split(",") if s]
    for s in setups:
        if s not in ("redis", "make-serve"):
            raise SystemExit(f"unknown setup {s!r}")
    setup_env = parse_kv(args.setup_env) if args.setup_env is not None else makefile_serve_env()
    results: list[dict[str, Any]] = []
    # per setup: waiting for a quiet machine, boot, targets, load, the cycle's record
    per_setup = 60 + 120 + SEED_BOUND_S + 5 * EXTRA_LISTED + args.max_s + 60
    with bounded(len(setups) * per_setup + 60):
        for s in setups:
            results.append(
                run_setup(
                    s,
                    symbols=args.symbols,
                    latency_ms=args.latency_ms,
                    rate=args.rate,
                    max_s=args.max_s,
                    tail_s=args.tail_s,
                    setup_env=setup_env,
                    start=args.start,
                )
            )
    result = {
        "symbols": args.symbols,
        "latency_ms": args.latency_ms,
        "exchanges": EXCHANGES,
        "makefile_serve_env": makefile_serve_env(),
        "machine": machine(),
        "code": code_state(),
        "measured_at": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "setups": results,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
