"""``perpwatch worker`` child processes of ``perpwatch serve`` (``SERVE_WORKERS=N``).

Each worker runs through :mod:`perpwatch.embedded.child`, watching a pipe whose write end
only this process holds, so it stops when this process dies, however it dies. The workers
write to this process's stdout and stderr (never to a pipe nobody reads), each log line
tagged ``worker-N``.

A thread watches them. A worker that exits while the pool is not stopping is started
again after a delay that grows while it keeps failing (0.5 s up to 30 s). A worker that
ran for ``STABLE_AFTER_S`` starts again from the first delay. Every exit and restart is
logged. Stopping sends SIGTERM to every worker (it drains its tasks and hands over the
lease), then SIGKILL to any still running after ``stop_grace_s``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

logger = logging.getLogger(__name__)

RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
STABLE_AFTER_S = 60.0
POLL_S = 0.2


def restart_delay(failures: int) -> float:
    """Seconds before restarting a worker that failed ``failures`` (>= 1) times in a row."""
    return RESTART_DELAYS_S[min(max(failures, 1), len(RESTART_DELAYS_S)) - 1]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


@dataclass(slots=True)
class _Worker:
    name: str
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None


class WorkerPool:
    """``with WorkerPool(count=2, env=...) as pool:`` -- started on entry, stopped on exit."""

    def __init__(
        self,
        *,
        count: int,
        env: Mapping[str, str],
        stop_grace_s: float,
        args: tuple[str, ...],
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        """``on_exit(pid)``: called (from the watching thread, or ``stop``) once a
        worker's exit is seen."""
        if count < 1:
            raise ValueError("count must be at least 1")
        self.on_exit = on_exit
        self.env = dict(env)
        self.args = args
        self.stop_grace_s = stop_grace_s
        self._workers = [_Worker(f"worker-{i + 1}") for i in range(count)]
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # the parent-death pipe: os.pipe() fds are not inherited, the read end is passed
        self._read_fd, self._write_fd = os.pipe()

    def start(self) -> Self:
        try:
            for w in self._workers:
                self._spawn(w)
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._watch, name="perpwatch-workers", daemon=True)
        self._thread.start()
        return self

    def _spawn(self, w: _Worker) -> None:
        command = [
            sys.executable, "-m", "perpwatch.embedded.child", "perpwatch",
            "--watch-fd", str(self._read_fd), "--grace", str(self.stop_grace_s),
            "--log-tag", w.name, *self.args,
        ]  # fmt: skip
        w.proc = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            pass_fds=(self._read_fd,),
            start_new_session=True,  # Ctrl-C reaches only the supervisor, which stops it
        )
        w.started_at, w.restart_at = time.monotonic(), None
        logger.info("%s started (pid %d)", w.name, w.proc.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_S):
            now = time.monotonic()
            for w in self._workers:
                if w.restart_at is not None:
                    if now >= w.restart_at:
                        self._restart(w)
                    continue
                code = None if w.proc is None else w.proc.poll()
                if w.proc is None or code is None:
                    continue
                self._exited(w.proc.pid)
                ran = now - w.started_at
                w.failures = 1 if ran >= STABLE_AFTER_S else w.failures + 1
                delay = restart_delay(w.failures)
                w.restart_at = now + delay
                logger.warning(
                    "%s (pid %d) exited with %s after %.1f s; restarting in %.1f s "
                    "(failure %d in a row)",
                    w.name, w.proc.pid, describe_exit(code), ran, delay, w.failures,
                )  # fmt: skip

    def _exited(self, pid: int) -> None:
        if self.on_exit is None:
            return
        try:
            self.on_exit(pid)
        except Exception:  # a hook must not stop the supervision
            logger.exception("handling the exit of pid %d failed", pid)

    def _restart(self, w: _Worker) -> None:
        try:
            self._spawn(w)
        except OSError as e:  # e.g. out of processes: try again later, keep watching
            w.failures += 1
            w.restart_at = time.monotonic() + restart_delay(w.failures)
            logger.error("%s could not start (%s); trying again in %.1f s", w.name, e,
                         w.restart_at - time.monotonic())  # fmt: skip

    def stop(self) -> None:
        """SIGTERM every worker, SIGKILL after ``stop_grace_s``; no more restarts."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        running = [(w.name, w.proc) for w in self._workers if w.proc is not None]
        for _, proc in running:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + self.stop_grace_s
        for name, proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s (pid %d) still running; killing it", name, proc.pid)
                proc.kill()
                proc.wait()
            logger.info("%s (pid %d) stopped: %s", name, proc.pid, describe_exit(proc.returncode))
            self._exited(proc.pid)
        for w in self._workers:
            w.proc = None
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self._write_fd = -1

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
