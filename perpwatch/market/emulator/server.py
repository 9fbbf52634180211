"""Running the Binance USD-M emulator: blocking for the CLI, in a thread for tests."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from perpwatch.market.emulator.binance import create_emulator_app

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0


def run_emulator(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    seed: int = 42,
    n_symbols: int = 160,
    latency_ms: float = 0.0,
) -> None:
    """Serve the emulator until interrupted (Ctrl-C)."""
    app = create_emulator_app(seed=seed, n_symbols=n_symbols, latency_ms=latency_ms)
    logger.info("Binance USD-M emulator on http://%s:%s (seed %s)", host, port, seed)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def serve_in_thread(
    app: Any, *, port: int = 0, lifespan: Literal["on", "off"] = "on"
) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread; yield its base URL.

    ``port=0`` picks a free port. The server is stopped (and the thread joined) on exit.
    Used for the emulator here and for the app itself in tests and benchmarks.
    """
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-thread", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.005)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT_S)


@contextmanager
def running_emulator(
    *,
    port: int = 0,
    latency_ms: float = 0.0,
    seed: int = 42,
    n_symbols: int = 160,
    clock: Callable[[], float] = time.time,
) -> Iterator[str]:
    """Run the emulator on 127.0.0.1 in a background thread; yield its base URL."""
    app = create_emulator_app(seed=seed, n_symbols=n_symbols, latency_ms=latency_ms, clock=clock)
    with serve_in_thread(app, port=port, lifespan="off") as url:
        yield url
