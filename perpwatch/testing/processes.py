"""``python -m perpwatch <args>`` in its own process: the one helper tests, benches and
scripts use to start, watch and stop a perpwatch server, worker or emulator.

The process logs (stdout and stderr) to a file, never to a pipe nobody reads: a full pipe
blocks the server. Leaving the ``with`` block always stops it: SIGTERM, and SIGKILL if it
has not exited within ``stop_timeout_s``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

LOG_TAIL_CHARS = 3000


def wait_http(
    url: str,
    *,
    timeout_s: float = 60.0,
    expect: int = 200,
    alive: Callable[[], bool] | None = None,
    why_not: Callable[[], str] | None = None,
) -> None:
    """Poll ``url`` until it answers ``expect``. RuntimeError after ``timeout_s``, or as soon
    as ``alive()`` says the server is gone (with ``why_not()``, e.g. its log, in the text)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=1.0).status_code == expect:
                return
        except httpx.HTTPError:
            pass
        if alive is not None and not alive():
            detail = why_not() if why_not is not None else ""
            raise RuntimeError(f"the server of {url} exited before it answered\n{detail}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{url} did not answer {expect} within {timeout_s}s")
        time.sleep(0.1)


class PerpwatchProcess:
    """One ``python -m <module> <args>`` process (``module`` is ``perpwatch`` unless a test
    runs a module of its own), as a context manager.

    ``env`` is laid over this process's environment. ``log_path``: where the process logs;
    by default a temporary file, removed when the process is stopped.
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        module: str = "perpwatch",
        stop_timeout_s: float = 15.0,
    ) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.stop_timeout_s = stop_timeout_s
        self._own_log = log_path is None
        self.log_path = log_path if log_path is not None else _temp_log()
        self._proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError("already started")
        with self.log_path.open("ab") as log:  # append: the child's writes never overlap
            self._proc = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def stop(self, timeout_s: float | None = None) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout_s`` (default
        ``stop_timeout_s``); the exit code. Does nothing more to a process that has exited."""
        proc = self.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=self.stop_timeout_s if timeout_s is None else timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._proc is not None:
                self.stop()
        finally:
            if self._own_log:
                self.log_path.unlink(missing_ok=True)

    # --- the process -------------------------------------------------------------------

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise RuntimeError("not started")
        return self._proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.proc.poll()

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def terminate(self) -> None:
        """SIGTERM, as an operator or a supervisor stops it; does not wait."""
        self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> int:
        """SIGKILL, as a crash or the OOM killer ends it (no shutdown runs); the exit code."""
        self.proc.kill()
        return self.proc.wait()

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; ``subprocess.TimeoutExpired`` if still running after ``timeout`` s."""
        return self.proc.wait(timeout=timeout)

    # --- its log and its HTTP port -------------------------------------------------------

    def log_text(self) -> str:
        """Everything the process has logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return self.log_text()[-chars:]

    def wait_http(self, url: str, *, timeout_s: float = 60.0, expect: int = 200) -> None:
        """Wait until ``url`` answers ``expect``; fails at once, with the log's tail, if
        the process exits first."""
        wait_http(
            url, timeout_s=timeout_s, expect=expect, alive=self.running, why_not=self.log_tail
        )


def _temp_log() -> Path:
    fd, name = tempfile.mkstemp(prefix="perpwatch-", suffix=".log")
    os.close(fd)
    return Path(name)
