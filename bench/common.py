"""Helpers shared by the benchmark scripts: subprocess servers on loopback and percentiles.

Processes are started with :class:`perpwatch.testing.processes.PerpwatchProcess`, the helper
the tests and scripts use too.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from perpwatch.testing.processes import PerpwatchProcess, wait_http  # noqa: E402
from tests.support.redis_server import RedisServer, free_port  # noqa: E402

__all__ = [
    "ROOT",
    "PerpwatchProcess",
    "RedisServer",
    "emulator_process",
    "free_port",
    "machine",
    "percentile",
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
def emulator_process(
    *, latency_ms: float = 0.0, symbols: int = 160, extra: tuple[str, ...] = ()
) -> Iterator[str]:
    """``perpwatch emulator`` in its own process (its CPU is not ours); yields its URL.

    ``extra``: more ``perpwatch emulator`` flags (limits, faults).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["emulator", "--port", str(port), "--latency-ms", str(latency_ms),
            "--symbols", str(symbols), *extra]  # fmt: skip
    with PerpwatchProcess(args, env={"PYTHONPATH": str(ROOT)}) as emulator:
        emulator.wait_http(f"{url}/fapi/v1/ping")
        yield url


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
