"""Cache-hit throughput of POST /api/gainer-analysis/analyze-symbol under ``wrk -c16``,
against a bare Starlette app answering a body of the same size, in the same run.

Per setup (memory cache; Redis cache on a private ``redis-server``):

1. ``perpwatch serve`` (simulated market, 125 symbols) in its own process; wait until
   ``/health/ready`` is 200 and the first refresh has finished with every symbol ok
   (``scheduler/status`` ``last_run.ok == 125``); fetch one real cache-hit answer for
   ``{"symbol":"BTCUSDT"}`` to learn its body size N.
2. ``bench/bare_app.py --size N`` in its own process: one POST route, a constant
   ``application/json`` body of exactly N bytes, uvicorn run as ``perpwatch serve`` runs it.
3. ``wrk -t1 -c16 -d10s --latency -s post.lua URL`` (the script POSTs the same JSON
   body with ``content-type: application/json``): a short warm-up of each, then
   perpwatch, bare, perpwatch, bare. Both servers stay up, but only one is under load at a
   time (the machine has 2 cores shared by wrk and both servers). Any non-2xx/3xx answer or
   socket error, or a cache miss counted by perpwatch during a run, fails the bench.

Reported: requests/s, p50 and p99 latency (wrk's), CPU used by the loaded server, the idle
server and wrk, and the bytes per answer wrk read (headers + body), per run; the best run of
each target and perpwatch/bare. Target (the issue): perpwatch >= 50 % of bare, p50 < 1 ms.

``wrk`` comes from ``PATH``; when it is missing and we are root on Debian, the bench
installs Debian's ``wrk`` package (``apt-get update``, ``apt-get install -y wrk``) and says so.

    python bench/cache_hit_throughput.py [--duration 10] [--runs 2] [--setups memory,redis]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import ROOT, PerpwatchProcess, RedisServer, free_port, machine
from bench.cpu_account import machine_busy_s, machine_steal_s

API = "/api/gainer-analysis"
PATH = f"{API}/analyze-symbol"
SYMBOL = "BTCUSDT"
SYMBOLS_LIMIT = 125
CONNECTIONS = 16
REQUEST_BODY = json.dumps({"symbol": SYMBOL}, separators=(",", ":"))
TARGET_RATIO = 0.5
TARGET_P50_MS = 1.0

# done() prints exact figures (latency in microseconds) on one line after wrk's own report
LUA = """\
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_SUMMARY {\\"requests\\": %%.0f, \\"bytes\\": %%.0f, \\"duration_us\\": %%.0f, " ..
    "\\"status_errors\\": %%.0f, \\"connect\\": %%.0f, \\"read\\": %%.0f, \\"write\\": %%.0f, " ..
    "\\"timeout\\": %%.0f, \\"p50_us\\": %%.1f, \\"p99_us\\": %%.1f, \\"max_us\\": %%.1f}\\n",
    summary.requests, summary.bytes, summary.duration, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
"""

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class BenchError(RuntimeError):
    """The bench could not produce valid figures (the message says why)."""


# --- wrk ------------------------------------------------------------------------------


def ensure_wrk() -> tuple[str, str]:
    """Path of ``wrk`` and a note on where it came from; installs Debian's package if needed."""
    found = shutil.which("wrk")
    if found:
        return found, f"wrk from PATH ({found})"
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise BenchError(
            "wrk is not on PATH and cannot be installed here "
            f"({'not root' if apt else 'no apt-get'}); install it (Debian: apt-get install wrk)"
        )
    print("wrk is not on PATH: installing Debian's wrk package (apt-get update, apt-get install)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update"], [apt, "install", "-y", "wrk"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-2000:]
            raise BenchError(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{tail}")
    found = shutil.which("wrk")
    if found is None:
        raise BenchError("apt-get install -y wrk succeeded but wrk is still not on PATH")
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "wrk"], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    note = f"wrk installed by this run from Debian's package wrk {version} ({found})"
    print(note)
    return found, note


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    first = (out.stdout + out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk (unknown version)"


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/s, the latency distribution, non-2xx/3xx answers and socket errors from
    wrk's report, plus the exact figures our ``done()`` prints."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if rps is None:
        raise BenchError(f"no Requests/sec in wrk's output:\n{text[-2000:]}")
    dist = {
        int(p): float(v) * _UNITS_MS[u]
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    }
    if 50 not in dist or 99 not in dist:
        raise BenchError(f"no latency distribution in wrk's output:\n{text[-2000:]}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    line = re.search(r"^BENCH_SUMMARY (\{.*\})$", text, re.M)
    if line is None:
        raise BenchError(f"the Lua done() line is missing from wrk's output:\n{text[-2000:]}")
    exact = json.loads(line.group(1))
    return {
        "rps": float(rps.group(1)),
        "p50_ms": dist[50],
        "p75_ms": dist.get(75),
        "p90_ms": dist.get(90),
        "p99_ms": dist[99],
        "non_2xx_3xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
        "exact": exact,
    }


# --- CPU accounting -----------------------------------------------------------------


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --- the servers ----------------------------------------------------------------------


@contextlib.contextmanager
def code_tree(rev: str | None) -> Iterator[Path]:
    """Where the servers import ``perpwatch`` from: this checkout, or (``rev``) a
    ``git archive`` of ``perpwatch/`` at that revision in a temporary directory -- figures
    of exactly one commit while others edit the working tree."""
    if rev is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="perpwatch-at-") as tmp:
        cmd = ["git", "archive", "--format=tar", rev, "perpwatch"]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=120)
        if out.returncode != 0:
            raise BenchError(f"{' '.join(cmd)}: {out.stderr.decode(errors='replace')[-500:]}")
        with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        yield Path(tmp)


def server_env(tree: Path) -> dict[str, str]:
    """PYTHONPATH for a server process run with ``cwd=tree``: ``perpwatch`` from ``tree``,
    ``bench`` (the bare app) from this checkout."""
    return {"PYTHONPATH": os.pathsep.join(dict.fromkeys([str(tree), str(ROOT)]))}


def check_import(tree: Path) -> str:
    """The ``perpwatch`` package a server process will import; must be the one in ``tree``."""
    code = "import perpwatch; print(perpwatch.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **server_env(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    )
    path = out.stdout.strip()
    if out.returncode != 0 or not Path(path).resolve().is_relative_to(tree.resolve()):
        raise BenchError(
            f"the servers would not import perpwatch from {tree}: {path or out.stderr}"
        )
    return path


def perpwatch_env(setup: str, port: int, redis_url: str | None, tree: Path) -> dict[str, str]:
    env = {
        "PORT": str(port),
        "MARKET": "sim",
        "SYMBOLS_LIMIT": str(SYMBOLS_LIMIT),
        "TASK_BACKEND": "inprocess",
        "LOG_LEVEL": "WARNING",
        **server_env(tree),
    }
    if setup == "memory":
        env["REDIS_ENABLED"] = "false"
    elif setup == "make-serve":  # API-only process + a worker child + its own Redis
        env.update({"EMBEDDED_REDIS": "true", "SERVE_WORKERS": "1"})
    else:
        assert redis_url is not None
        env["REDIS_URL"] = redis_url
    return env


def wait_first_refresh(server: PerpwatchProcess, url: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        if not server.running():
            raise BenchError(f"perpwatch exited during the first refresh:\n{server.log_tail()}")
        status = httpx.get(f"{url}{API}/scheduler/status", timeout=5).json()["data"]
        last = status.get("last_run")
        if last and last.get("finished"):
            if last.get("ok") == SYMBOLS_LIMIT and not last.get("failed"):
                if SYMBOL not in status["symbols"]:
                    raise BenchError(f"{SYMBOL} is not among the watched symbols")
                return
            raise BenchError(f"the first refresh did not succeed for every symbol: {last}")
        time.sleep(0.2)
    raise BenchError(f"no finished first refresh within {timeout_s:.0f} s (last_run: {last})")


def sample_answer(url: str) -> httpx.Response:
    resp = httpx.post(
        f"{url}{PATH}",
        content=REQUEST_BODY,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    if resp.status_code != 200:
        raise BenchError(f"POST {PATH} answered {resp.status_code}: {resp.text[:500]}")
    return resp


def cache_counters(url: str) -> dict[str, int]:
    data = httpx.get(f"{url}{API}/cache-stats", timeout=5).json()["data"]
    return {k: int(data[k]) for k in ("hits", "misses", "computations")}


@contextlib.contextmanager
def started(proc: PerpwatchProcess, name: str) -> Iterator[PerpwatchProcess]:
    """``proc`` running; on an error, its log's tail is printed before it is stopped."""
    with proc:
        try:
            yield proc
        except BaseException:
            print(f"--- last lines of the {name} log ---\n{proc.log_tail()}", file=sys.stderr)
            raise


# --- one setup ------------------------------------------------------------------------


def run_wrk(
    wrk: str, lua: Path, url: str, duration_s: int, loaded: int, idle: int, redis: int | None
) -> dict[str, Any]:
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{duration_s}s", "--latency", "-s", str(lua), url]
    t0, all0, steal0 = time.monotonic(), machine_busy_s(), machine_steal_s()
    cpu0, idle0, wrk0 = cpu_s(loaded), cpu_s(idle), children_cpu_s()
    redis0 = cpu_s(redis) if redis else 0.0
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30)
    cpu1, idle1, wrk1 = cpu_s(loaded), cpu_s(idle), children_cpu_s()
    redis1 = cpu_s(redis) if redis else 0.0
    wall, all1, steal1 = time.monotonic() - t0, machine_busy_s(), machine_steal_s()
    ours = (cpu1 - cpu0) + (idle1 - idle0) + (wrk1 - wrk0) + (redis1 - redis0)
    text = done.stdout + done.stderr
    if done.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} exited {done.returncode}:\n{text[-2000:]}")
    r = parse_wrk(text)
    ex = r["exact"]
    if r["non_2xx_3xx"] or ex["status_errors"]:
        raise BenchError(f"{url}: {r['non_2xx_3xx']} non-2xx/3xx answers under wrk:\n{text}")
    if r["socket_errors"] or ex["connect"] + ex["read"] + ex["write"] + ex["timeout"]:
        raise BenchError(f"{url}: socket errors under wrk:\n{text}")
    return {
        "rps": round(r["rps"], 1),
        "p50_ms": round(ex["p50_us"] / 1000, 3),
        "p99_ms": round(ex["p99_us"] / 1000, 3),
        "max_ms": round(ex["max_us"] / 1000, 2),
        "wrk_p50_ms": r["p50_ms"],
        "wrk_p99_ms": r["p99_ms"],
        "requests": int(ex["requests"]),
        "bytes_per_answer": round(ex["bytes"] / ex["requests"], 1) if ex["requests"] else 0.0,
        "server_cpu_pct": round(100 * (cpu1 - cpu0) / wall, 1),
        "idle_server_cpu_pct": round(100 * (idle1 - idle0) / wall, 1),
        "wrk_cpu_pct": round(100 * (wrk1 - wrk0) / wall, 1),
        "redis_cpu_pct": round(100 * (redis1 - redis0) / wall, 1) if redis else None,
        # everything else on the machine meanwhile (other benches, tests, the OS)
        "other_cpu_pct": round(max(0.0, 100 * (all1 - all0 - ours) / wall), 1),
        # the cores' time the hypervisor gave to other machines (100 % = one core)
        "steal_pct": round(100 * (steal1 - steal0) / wall, 1),
    }


def run_setup(
    setup: str, wrk: str, lua: Path, duration_s: int, runs: int, warmup_s: int, tree: Path
) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        redis_url, redis_pid = None, None
        if setup == "redis":
            redis = stack.enter_context(RedisServer())
            redis_url, redis_pid = redis.url, redis._proc.pid if redis._proc else None
        pw_port, bare_port = free_port(), free_port()
        pw_url, bare_url = f"http://127.0.0.1:{pw_port}", f"http://127.0.0.1:{bare_port}"
        pw = stack.enter_context(
            started(
                PerpwatchProcess(
                    ["serve"], env=perpwatch_env(setup, pw_port, redis_url, tree), cwd=tree
                ),
                "perpwatch",
            )
        )
        pw.wait_http(f"{pw_url}/health/ready", timeout_s=180)
        wait_first_refresh(pw, pw_url)
        sample = sample_answer(pw_url)
        if not sample.json()["data"]["cached"]:
            sample = sample_answer(pw_url)
            if not sample.json()["data"]["cached"]:
                raise BenchError(f"{PATH} {REQUEST_BODY} is not a cache hit after the refresh")
        size = len(sample.content)
        ctype = sample.headers.get("content-type", "")
        bare = stack.enter_context(
            started(
                PerpwatchProcess(
                    ["--port", str(bare_port), "--size", str(size)],
                    module="bench.bare_app",
                    env=server_env(tree),
                    cwd=tree,
                ),
                "bare app",
            )
        )
        bare.wait_http(f"{bare_url}{PATH}", expect=405, timeout_s=60)  # GET on a POST route
        bare_sample = sample_answer(bare_url)
        if len(bare_sample.content) != size:
            raise BenchError(f"the bare app answered {len(bare_sample.content)} bytes, not {size}")

        targets = {
            "perpwatch": (pw_url + PATH, pw.pid, bare.pid),
            "bare": (bare_url + PATH, bare.pid, pw.pid),
        }
        if warmup_s > 0:
            for url, loaded, idle in targets.values():
                run_wrk(wrk, lua, url, warmup_s, loaded, idle, redis_pid)
        results: dict[str, list[dict[str, Any]]] = {"perpwatch": [], "bare": []}
        for i in range(runs):
            for name, (url, loaded, idle) in targets.items():
                before = cache_counters(pw_url) if name == "perpwatch" else None
                row = run_wrk(wrk, lua, url, duration_s, loaded, idle, redis_pid)
                if before is not None:
                    after = cache_counters(pw_url)
                    row["cache_hits"] = after["hits"] - before["hits"]
                    row["cache_misses"] = after["misses"] - before["misses"]
                    if row["cache_misses"] or after["computations"] != before["computations"]:
                        raise BenchError(
                            f"perpwatch counted cache misses during run {i + 1}: {row}"
                        )
                    if row["cache_hits"] < row["requests"]:
                        raise BenchError(
                            f"perpwatch counted {row['cache_hits']} hits for "
                            f"{row['requests']} answers in run {i + 1}"
                        )
                row["run"] = i + 1
                results[name].append(row)
                print(
                    f"{setup:6} run {i + 1} {name:9} {row['rps']:9.1f} req/s  "
                    f"p50 {row['p50_ms']:.3f} ms  p99 {row['p99_ms']:.3f} ms  "
                    f"CPU: server {row['server_cpu_pct']:.0f} %, wrk {row['wrk_cpu_pct']:.0f} %, "
                    f"other processes {row['other_cpu_pct']:.0f} %, "
                    f"stolen by the hypervisor {row['steal_pct']:.0f} %"
                )
        if pw.poll() is not None or bare.poll() is not None:
            raise BenchError("a server exited during the runs")

    best = {name: max(rows, key=lambda r: r["rps"]) for name, rows in results.items()}
    ratio = best["perpwatch"]["rps"] / best["bare"]["rps"]
    return {
        "body_bytes": size,
        "content_type": ctype,
        "runs": results,
        "best": best,
        "ratio": round(ratio, 3),
        "ratio_per_run": [
            round(p["rps"] / b["rps"], 3)
            for p, b in zip(results["perpwatch"], results["bare"], strict=True)
        ],
        "ratio_met": ratio >= TARGET_RATIO,
        "p50_met": best["perpwatch"]["p50_ms"] < TARGET_P50_MS,
    }


# --- provenance and the report ----------------------------------------------------------


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    return out.stdout.rstrip()  # not strip(): porcelain lines start with a space


def provenance(rev: str | None) -> dict[str, Any]:
    import httptools
    import starlette
    import uvicorn
    import uvloop

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "perpwatch").splitlines()]
    commit = git("rev-parse", "--short", f"{rev or 'HEAD'}^{{commit}}")
    if not commit:
        raise BenchError(f"{rev!r} is not a commit of this repository")
    return {
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "commit": commit,
        "code": f"git archive of {rev}" if rev else "working tree",
        # only what the servers ran when they ran the working tree
        "uncommitted_perpwatch_files": [] if rev else dirty,
        "machine": machine(),
        "stack": (
            f"uvicorn {uvicorn.__version__} (uvloop {uvloop.__version__}, "
            f"httptools {httptools.__version__}), Starlette {starlette.__version__}"
        ),
    }


def markdown(result: dict[str, Any]) -> str:
    """The summary table and the table of every run, for the script and docs/benchmarks.md."""
    setups = result["setups"]
    lines = [
        "| cache | body | perpwatch req/s | bare req/s | perpwatch / bare | perpwatch p50 / p99 "
        "| bare p50 / p99 | ≥ 50 % of bare | p50 < 1 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, s in setups.items():
        p, b = s["best"]["perpwatch"], s["best"]["bare"]
        lines.append(
            f"| {setup} | {s['body_bytes']} B | {p['rps']:,.0f} | {b['rps']:,.0f} "
            f"| {100 * s['ratio']:.0f} % | {p['p50_ms']:.2f} / {p['p99_ms']:.2f} ms "
            f"| {b['p50_ms']:.2f} / {b['p99_ms']:.2f} ms "
            f"| {'met' if s['ratio_met'] else 'NOT met'} | {'met' if s['p50_met'] else 'NOT met'} |"
        )
    lines += [
        "",
        "| cache | run | target | req/s | p50 | p99 | max | bytes per answer (headers + body) "
        "| CPU: loaded server / idle server / wrk / redis-server / rest of the machine "
        "| stolen |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for setup, s in setups.items():
        for i in range(len(s["runs"]["perpwatch"])):
            for name in ("perpwatch", "bare"):
                r = s["runs"][name][i]
                redis_cpu = "-" if r["redis_cpu_pct"] is None else f"{r['redis_cpu_pct']:.0f} %"
                lines.append(
                    f"| {setup} | {r['run']} | {name} | {r['rps']:,.0f} | {r['p50_ms']:.3f} ms "
                    f"| {r['p99_ms']:.3f} ms | {r['max_ms']:.1f} ms | {r['bytes_per_answer']:.0f} "
                    f"| {r['server_cpu_pct']:.0f} % / {r['idle_server_cpu_pct']:.0f} % "
                    f"/ {r['wrk_cpu_pct']:.0f} % / {redis_cpu} / {r['other_cpu_pct']:.0f} % "
                    f"| {r.get('steal_pct', 0):.0f} % |"
                )
    return "\n".join(lines)


def _fill(text: str) -> str:
    return textwrap.fill(" ".join(text.split()), 92, break_on_hyphens=False)


def section(result: dict[str, Any], note: str = "") -> str:
    """The section of docs/benchmarks.md (``bench/run_all.py``); ``note``: a paragraph
    (quoted) put under the heading."""
    setups = result["setups"]
    met = all(s["ratio_met"] and s["p50_met"] for s in setups.values())
    caches = " and ".join(
        {"memory": "the memory cache", "redis": "Redis (a private `redis-server`)"}[s]
        for s in setups
    )
    c = result["connections"]
    method = f"""`bench/cache_hit_throughput.py`: `perpwatch serve` (simulated market,
        {SYMBOLS_LIMIT} symbols, `LOG_LEVEL=WARNING`) in its own process, with {caches}, after
        its first refresh; and `bench/bare_app.py`, a bare Starlette app in its own process with
        one POST route answering a constant `application/json` body of the same size, served by
        uvicorn exactly as `perpwatch serve` serves the API (uvicorn's default loop and HTTP
        implementation, access log off). `wrk -t1 -c{c} -d{result["duration_s"]}s --latency`
        POSTs `{result["request_body"]}`; every answer is a 2xx and a cache hit (perpwatch's hit
        and miss counters, checked around each run). After a {result["warmup_s"]} s warm-up of
        each: perpwatch, bare, perpwatch, bare; both servers stay up but only one is under load
        at a time, on the same cores as wrk. Best run of each below, then every run, with the
        CPU each process used during it (100 % = one core; "rest of the machine" is whatever
        else ran meanwhile; "stolen" is the time the hypervisor gave the cores to other
        machines). With {c} connections always busy the mean latency is {c} /
        throughput, so p50 under 1 ms takes about {1000 * c:,} req/s. Target: perpwatch at least
        50 % of bare, p50 under 1 ms. **{"met" if met else "NOT met"}**."""
    code = f"commit `{result['commit']}`"
    if result["code"] == "working tree" and result["uncommitted_perpwatch_files"]:
        files = ", ".join(f"`{f}`" for f in result["uncommitted_perpwatch_files"])
        code += f" plus uncommitted changes to {files}"
    measured = f"Measured {result['date']}, {code}; {result['wrk']}; {result['stack']}."
    parts = [f"## Cache-hit throughput of `POST {PATH}` under `wrk -c{c}`"]
    if note:
        parts.append("\n".join("> " + line for line in _fill(note).splitlines()))
    parts += [_fill(method), _fill(measured), markdown(result)]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    p.add_argument("--runs", type=int, default=2, help="runs of each target (default 2)")
    p.add_argument("--warmup", type=int, default=2, help="seconds of unreported warm-up")
    p.add_argument(
        "--setups",
        default="memory,redis,make-serve",
        help="any of memory (one process, no Redis), redis (one process doing everything "
        "on a private redis-server), make-serve (what make serve runs: an API-only process, "
        "a worker child and a private Redis)",
    )
    p.add_argument("--json", type=Path, help="also write the result as JSON here")
    p.add_argument(
        "--at",
        metavar="REV",
        help="run the servers on perpwatch/ as committed at REV (git archive to a temporary "
        "directory) instead of the working tree",
    )
    args = p.parse_args(argv)
    setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if not setups or set(setups) - {"memory", "redis", "make-serve"}:
        p.error("--setups: any of memory, redis, make-serve")
    if not 1 <= args.duration <= 60:
        p.error("--duration: 1 to 60 seconds")

    wrk, wrk_note = ensure_wrk()
    result: dict[str, Any] = {
        **provenance(args.at),
        "wrk": wrk_version(wrk),
        "wrk_note": wrk_note,
        "connections": CONNECTIONS,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "request_body": REQUEST_BODY,
        "setups": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="perpwatch-wrk-") as tmp,
        code_tree(args.at) as tree,
    ):
        result["perpwatch_imported_from"] = check_import(tree)
        lua = Path(tmp) / "post.lua"
        lua.write_text(LUA % {"body": REQUEST_BODY})
        for setup in setups:
            result["setups"][setup] = run_setup(
                setup, wrk, lua, args.duration, args.runs, args.warmup, tree
            )
    table = markdown(result)
    result["markdown"] = table
    print(f"\n{result['wrk']}, -t1 -c{CONNECTIONS} -d{args.duration}s; {result['stack']}")
    print(f"commit {result['commit']} ({result['code']}), {result['date']}, {result['machine']}")
    if result["uncommitted_perpwatch_files"]:
        print(f"uncommitted changes under perpwatch/: {result['uncommitted_perpwatch_files']}")
    print(f"\n{table}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the with-blocks: every server is stopped


if __name__ == "__main__":
    # SIGTERM (timeout, a supervisor) and SIGINT (even when started in the background,
    # where the shell ignores it) stop the bench the way an error does
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    try:
        main()
    except BenchError as exc:
        sys.exit(f"cache_hit_throughput: {exc}")
