"""Processes that a bench starts stop by themselves, whatever happens to the bench.

* :class:`OwnedProcess` is :class:`~perpwatch.testing.processes.PerpwatchProcess` with
  ``PR_SET_PDEATHSIG``: the kernel SIGKILLs it when the bench process dies, even by
  SIGKILL, so no server outlives a crashed or killed bench.
* :class:`OwnedRedis` is a private ``redis-server`` on a loopback port with the same
  guarantee (no persistence).
* :func:`bounded` turns SIGTERM and a wall-clock alarm into an exception in the main
  thread, so every ``with`` block unwinds and stops its processes in order.

Linux only (``prctl``), like the benches. Start processes from the main thread: the
death signal follows the thread that forked.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

from bench.common import PerpwatchProcess, free_port
from tests.support.redis_server import find_redis_server

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class OwnedProcess(PerpwatchProcess):
    """A ``python -m perpwatch ...`` process that dies with the bench."""

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError("already started")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        return self


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class OwnedRedis:
    """``with OwnedRedis() as r: r.url``: one private redis-server that dies with the bench."""

    def __init__(self) -> None:
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="perpwatch-bench-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> Self:
        log = Path(self._dir.name) / "redis.log"
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            self._dir.name,
        ]
        with log.open("wb") as out:
            self._proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and self._proc.poll() is None:
            if _pings(self.port):
                return self
            time.sleep(0.02)
        tail = log.read_text(errors="replace")[-2000:]
        self.__exit__(None, None, None)
        raise RuntimeError(f"redis-server did not answer on port {self.port}:\n{tail}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            self._dir.cleanup()


class BenchTimeout(Exception):
    """The bench ran past its wall-clock bound (or was asked to stop)."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Raise :class:`BenchTimeout` in the main thread after ``seconds`` or on SIGTERM."""

    def stop(signum: int, frame: FrameType | None) -> None:
        raise BenchTimeout(f"stopped by signal {signum} (bound {seconds:.0f}s)")

    old_alarm = signal.signal(signal.SIGALRM, stop)
    old_term = signal.signal(signal.SIGTERM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)


@contextlib.contextmanager
def emulator(
    *, latency_ms: float, symbols: int, extra: tuple[str, ...] = ()
) -> Iterator[tuple[str, OwnedProcess]]:
    """``perpwatch emulator`` in its own process; yields its URL and the process."""
    from bench.common import ROOT

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "emulator",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_ms),
        "--symbols",
        str(symbols),
        *extra,
    ]
    with OwnedProcess(args, env={"PYTHONPATH": str(ROOT)}) as proc:
        proc.wait_http(f"{url}/fapi/v1/ping")
        yield url, proc
