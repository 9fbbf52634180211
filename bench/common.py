"""Helpers shared by the benchmark scripts: subprocess servers on loopback and percentiles."""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.redis_server import RedisServer, free_port  # noqa: E402

__all__ = [
    "ROOT",
    "RedisServer",
    "emulator_process",
    "free_port",
    "machine",
    "percentile",
    "process",
    "wait_http",
]


def percentile(values: Sequence[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


@contextlib.contextmanager
def process(
    args: list[str], *, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    # the log goes to a file: an unread pipe would fill up and block the server
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, env=full_env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def emulator_process(
    *, latency_ms: float = 0.0, symbols: int = 160, extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """``perpwatch emulator`` in its own process (its CPU is not ours); yields its URL.

    ``extra``: more ``perpwatch emulator`` flags (limits, faults).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "perpwatch", "emulator", "--port", str(port),
           "--latency-ms", str(latency_ms), "--symbols", str(symbols), *extra]  # fmt: skip
    with process(cmd, env={"PYTHONPATH": str(ROOT)}):
        wait_http(f"{url}/fapi/v1/ping")
        yield url


def wait_http(url: str, *, timeout_s: float = 60.0, expect: int = 200) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == expect:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer {expect} within {timeout_s}s")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
