"""Push fan-out: 1,000 WebSocket clients, each subscribed to every signal, on one API process
during full refresh cycles.

Setup: what ``make serve`` runs (an API-only process, a worker child, a private Redis),
with ccxt's ``binanceusdm`` against ``perpwatch emulator --latency-ms 100``, 125 symbols
and a cycle every ``--interval`` seconds. After the start-up cycle, ``--procs`` client
processes open ``--clients`` connections in all (lean asyncio clients with a minimal
frame reader, no compression, as the server has it) and subscribe to ``signals``. Each client
notes, for every ``analysis`` event, its arrival time minus the event's ``ts`` (when the
worker published it to Redis, same machine clock): the delivery delay, through Redis, the
API's hub and its socket. The frames are not decoded beyond their first bytes, so that
the clients cost as little CPU as they can (they share the machine's 2 cores with
perpwatch).

Reported: p50, p99 and max delivery delay over ``--cycles`` full cycles, events received
per client (every client must get every event of those cycles, in order), and the API
process's RSS idle, with every client connected, and at its peak. Target (the issue):
p99 < 500 ms.

    python bench/push_fanout.py [--clients 1000] [--procs 2] [--cycles 2] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import ROOT, free_port, machine, percentile
from bench.lifetime import OwnedProcess, bounded, emulator
from bench.provenance import code_state

HEADING = "Push fan-out to 1,000 WebSocket clients"
API = "/api/gainer-analysis"
SYMBOLS = 125
LATENCY_MS = 100.0
TARGET_P99_MS = 500.0
FRAME = re.compile(rb'\{"type":"analysis","channel":"signals","seq":(\d+),"ts":(\d+),')


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the client process ------------------------------------------------------------------
# A lean client: asyncio protocols with a minimal frame reader, so that the measuring side
# costs a few microseconds a message (a library client costs tens, and on 2 shared cores
# the clients' CPU would be what is measured).


class LeanClient(asyncio.Protocol):
    def __init__(self, host: str, path: str, stop_at: float, delays: list[float]) -> None:
        self.host, self.path, self.stop_at, self.delays = host, path, stop_at, delays
        self.buf = bytearray()
        self.upgraded = False
        self.seqs: list[int] = []
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = (
            bytes([0x80 | opcode, 0x80 | n])
            if n < 126
            else bytes([0x80 | opcode, 0xFE]) + n.to_bytes(2, "big")
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(head + mask + masked)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(bytes(buf[:200]).decode(errors="replace"))
            del buf[: end + 4]
            self.upgraded = True
            self.send(0x1, b'{"type":"subscribe","channels":["signals"]}')
        now_ms = time.time() * 1000
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b1, ln = buf[pos], buf[pos + 1] & 0x7F
            off = pos + 2
            if ln == 126:
                if size - pos < 4:
                    break
                ln, off = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif ln == 127:
                if size - pos < 10:
                    break
                ln, off = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size < off + ln:
                break
            opcode = b1 & 0x0F
            if opcode == 0x1:
                m = FRAME.match(buf, off, off + ln)
                if m:
                    self.delays.append(now_ms - int(m.group(2)))
                    self.seqs.append(int(m.group(1)))
            elif opcode == 0x9:  # ping: pong, or the server gives up on us
                self.send(0xA, bytes(buf[off : off + ln]))
            elif opcode == 0x8:
                assert self.transport is not None
                self.transport.close()
            pos = off + ln
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


async def client_main(url: str, n: int, seconds: float, ready_file: Path) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    stop_at = time.time() + seconds
    clients: list[LeanClient] = []
    errors: list[str] = []
    for i in range(n):
        try:
            _, c = await loop.create_connection(
                lambda: LeanClient(f"{host}:{port}", parts.path, stop_at, delays), host, port
            )
            clients.append(c)
        except OSError as e:
            errors.append(repr(e))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not storm the accept queue
    await asyncio.to_thread(ready_file.write_text, "ready")
    await asyncio.sleep(max(0.0, stop_at - time.time()))
    lost = sum(1 for c in clients if c.closed.done())
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    return {"delays": delays, "seqs": [c.seqs for c in clients],
            "errors": errors[:5], "failed": len(errors) + lost}  # fmt: skip


def client_entry(argv: list[str]) -> None:
    url, n, seconds, ready, out = argv[0], int(argv[1]), float(argv[2]), argv[3], argv[4]
    result = asyncio.run(client_main(url, n, seconds, Path(ready)))
    Path(out).write_text(json.dumps(result))


# --- the bench ---------------------------------------------------------------------------


def run(clients: int, procs: int, cycles: int, interval_s: float) -> dict[str, Any]:
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"perpwatch-fanout-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    with contextlib.ExitStack() as stack:
        emu_url, _ = stack.enter_context(emulator(latency_ms=LATENCY_MS, symbols=SYMBOLS + 35))
        env = {
            "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", "MARKET": "binanceusdm",
            "EXCHANGE_API_URL": emu_url, "SYMBOLS_LIMIT": str(SYMBOLS),
            "HAMA_SCHEDULER_INTERVAL": str(interval_s / 60), "HAMA_CACHE_TTL": "600",
            "FUNDING_CHECK_ENABLED": "false", "EMBEDDED_REDIS": "true", "SERVE_WORKERS": "1",
            "PORT": str(port), "PUSH_MAX_ANON_CONNECTIONS_PER_IP": str(clients + 10),
        }  # fmt: skip
        api = stack.enter_context(OwnedProcess(["serve"], env=env))
        api.wait_http(f"{api_url}/health", timeout_s=120)
        deadline = time.monotonic() + 120
        while True:
            last = httpx.get(f"{api_url}{API}/scheduler/status", timeout=10).json()["data"]
            if (last.get("last_run") or {}).get("ok") == SYMBOLS:
                break
            assert time.monotonic() < deadline, "no start-up cycle"
            time.sleep(0.5)
        rss_idle = rss_kib(api.pid)
        seconds = 30 + interval_s * (cycles + 1)
        ws_url = api_url.replace("http", "ws") + "/ws"
        per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        children = []
        for i, n in enumerate(per):
            ready, out = tmp / f"ready{i}", tmp / f"out{i}.json"
            ready.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "--client", ws_url, str(n),
                   str(seconds), str(ready), str(out)]  # fmt: skip
            children.append((subprocess.Popen(cmd), ready, out))
        t0 = time.monotonic()
        while not all(r.exists() for _, r, _ in children):
            assert time.monotonic() - t0 < 60, "clients did not start"
            time.sleep(0.1)
        time.sleep(3)
        connected = httpx.get(f"{api_url}/health", timeout=10).json()["data"]["push"]
        rss_connected = rss_kib(api.pid)
        peak = [rss_connected]
        queued = [0]
        stop = threading.Event()

        def sample() -> None:
            n = 0
            while not stop.is_set():
                peak.append(rss_kib(api.pid))
                n += 1
                if n % 5 == 0:  # the longest client queue, while they are connected
                    with contextlib.suppress(httpx.HTTPError):
                        h = httpx.get(f"{api_url}/health", timeout=5).json()["data"]["push"]
                        queued.append(int(h["peak_queued"]))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for proc, _, _ in children:
            proc.wait(timeout=seconds + 120)
        stop.set()
        sampler.join()
        push = httpx.get(f"{api_url}/health", timeout=10).json()["data"]["push"]
        status = httpx.get(f"{api_url}{API}/scheduler/status", timeout=10).json()["data"]
    results = [json.loads(out.read_text()) for _, _, out in children]
    delays = [d for r in results for d in r["delays"]]
    all_seqs = [s for r in results for s in r["seqs"]]
    # the seqs every client should have: those of complete cycles after all subscribed
    union = sorted({q for seqs in all_seqs for q in seqs})
    complete = [q for q in union if sum(1 for seqs in all_seqs if q in set(seqs)) == clients]
    in_order = all(seqs == sorted(seqs) and len(seqs) == len(set(seqs)) for seqs in all_seqs)
    return {
        "when": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine(),
        "code": code_state(),
        "clients": clients,
        "procs": procs,
        "interval_s": interval_s,
        "connected": connected["connections"],
        "direct": connected.get("direct"),
        "failed_clients": sum(r["failed"] for r in results),
        "errors": [e for r in results for e in r["errors"]][:3],
        "events_total": len(delays),
        "events_per_client_min": min((len(s) for s in all_seqs), default=0),
        "events_per_client_max": max((len(s) for s in all_seqs), default=0),
        "seqs_seen": len(union),
        "seqs_every_client_got": len(complete),
        "in_order_no_dups": in_order,
        "p50_ms": round(percentile(delays, 50), 1) if delays else None,
        "p99_ms": round(percentile(delays, 99), 1) if delays else None,
        "max_ms": round(max(delays), 1) if delays else None,
        "rss_idle_mib": round(rss_idle / 1024, 1),
        "rss_connected_mib": round(rss_connected / 1024, 1),
        "rss_peak_mib": round(max(peak) / 1024, 1),
        "resets": push["resets"],
        "slow_closed": push["slow_closed"],
        "peak_queued": max(queued),
        "cycles_run": status.get("runs"),
        "last_cycle_s": (status.get("last_run") or {}).get("duration_s"),
    }


def section(r: dict[str, Any]) -> str:
    met = r["p99_ms"] is not None and r["p99_ms"] < TARGET_P99_MS and r["failed_clients"] == 0
    header = [
        "clients connected", "events delivered", "per client (min / max)",
        "seqs every client got", "in order, no duplicates", "p50", "p99", "max",
    ]  # fmt: skip
    cells = [
        f"{r['connected']} ({r['failed_clients']} failed)",
        f"{r['events_total']:,}",
        f"{r['events_per_client_min']} / {r['events_per_client_max']}",
        f"{r['seqs_every_client_got']} of {r['seqs_seen']}",
        "yes" if r["in_order_no_dups"] else "NO",
        f"{r['p50_ms']} ms",
        f"{r['p99_ms']} ms",
        f"{r['max_ms']} ms",
    ]
    table = "\n".join(
        [
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
            "| " + " | ".join(cells) + " |",
        ]
    )
    return f"""## {HEADING}

`python bench/push_fanout.py --write`, measured {r["when"]} on {r["machine"]}, code
{r["code"]}. What `make serve` runs (API-only process, worker child, private Redis), ccxt
`binanceusdm` against `perpwatch emulator --latency-ms {LATENCY_MS:.0f}`, {SYMBOLS} symbols, a
cycle every {r["interval_s"]:.0f} s. {r["clients"]} WebSocket clients in {r["procs"]} processes
on the same 2 cores, each subscribed to every signal; a client's delay is its arrival
time minus the event's `ts` (published by the worker). Target: p99 < {TARGET_P99_MS:.0f} ms.
**{"met" if met else "NOT met"}**.

{table}

API process RSS: {r["rss_idle_mib"]} MiB before the clients, {r["rss_connected_mib"]} MiB with
all of them connected, {r["rss_peak_mib"]} MiB at the peak of the run. Clients whose frames
were written to the socket directly, a batch at a time: {r["direct"]}. Resets sent:
{r["resets"]}, clients closed as too slow: {r["slow_closed"]}, longest client queue:
{r["peak_queued"]}. The last cycle took {r["last_cycle_s"]} s.
"""


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--cycles", type=int, default=2)
    p.add_argument("--interval", type=float, default=15.0, help="seconds between cycles")
    p.add_argument("--write", action="store_true", help="replace the section in the docs")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= 20_000 or not 1 <= args.procs <= 32:
        p.error("--clients 1..20000, --procs 1..32")
    with bounded(600):
        result = run(args.clients, args.procs, args.cycles, args.interval)
    print(json.dumps(result, indent=1))
    print(section(result))
    if args.write:
        from bench.optional_steps import replace_section

        replace_section(ROOT / "docs" / "benchmarks.md", HEADING, section(result))
    return result


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_entry(sys.argv[2:])
    else:
        main(sys.argv[1:])
