"""Running the emulator: blocking for the CLI, in a thread for tests and scripts."""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

from perpwatch.emulator.app import create_emulator_app
from perpwatch.emulator.faults import FaultConfig
from perpwatch.emulator.front import EmulatorApp
from perpwatch.emulator.limits import BAN_BASE_S, LimitConfig
from perpwatch.emulator.weights import REQUEST_WEIGHT_LIMIT_1M

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0


def add_emulator_options(parser: argparse.ArgumentParser) -> None:
    """The limit and fault flags of ``perpwatch emulator`` (see :func:`emulator_from_options`)."""
    g = parser.add_argument_group("limits and faults")
    g.add_argument(
        "--weight-limit",
        type=int,
        default=REQUEST_WEIGHT_LIMIT_1M,
        help="Binance request weight per IP per window (default 2400)",
    )
    g.add_argument(
        "--weight-window",
        type=int,
        default=60,
        metavar="SECONDS",
        help="length of the weight window (default 60: Binance's minute)",
    )
    g.add_argument(
        "--no-limits",
        action="store_true",
        help="count weight but never answer 429/418 (benchmarks)",
    )
    g.add_argument(
        "--ban-after",
        type=int,
        default=20,
        help="requests sent during a 429 back-off before a 418 IP ban",
    )
    g.add_argument(
        "--ban-seconds",
        type=float,
        default=BAN_BASE_S,
        help="first ban (doubles per repeat, up to 3 days; default 120)",
    )
    g.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="share of requests faulted, split over 5xx/timeout/drop/malformed",
    )
    for kind in ("5xx", "timeout", "drop", "malformed"):
        g.add_argument(
            f"--fault-{kind}",
            type=float,
            default=None,
            metavar="RATE",
            help=f"rate of {kind} faults (overrides --fault-rate for that kind)",
        )
    g.add_argument("--fault-seed", type=int, default=0, help="seed of the fault RNG")
    g.add_argument(
        "--fault-hang",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long a timeout fault holds a request at most (default 30)",
    )


OPTION_NAMES = (
    "weight_limit",
    "weight_window",
    "no_limits",
    "ban_after",
    "ban_seconds",
    "fault_rate",
    "fault_5xx",
    "fault_timeout",
    "fault_drop",
    "fault_malformed",
    "fault_seed",
    "fault_hang",
)


def emulator_options(args: argparse.Namespace) -> dict[str, Any]:
    """The values of :func:`add_emulator_options`' flags, for ``run_emulator(**...)``."""
    return {name: getattr(args, name) for name in OPTION_NAMES if hasattr(args, name)}


def emulator_from_options(
    *,
    seed: int = 42,
    n_symbols: int = 160,
    latency_ms: float = 0.0,
    weight_limit: int = REQUEST_WEIGHT_LIMIT_1M,
    weight_window: int = 60,
    no_limits: bool = False,
    ban_after: int = 20,
    ban_seconds: float = BAN_BASE_S,
    fault_rate: float = 0.0,
    fault_5xx: float | None = None,
    fault_timeout: float | None = None,
    fault_drop: float | None = None,
    fault_malformed: float | None = None,
    fault_seed: int = 0,
    fault_hang: float = 30.0,
    clock: Callable[[], float] = time.time,
) -> EmulatorApp:
    """The emulator app from the CLI's options (names as :func:`add_emulator_options`)."""
    limits = LimitConfig(
        enabled=not no_limits,
        weight_limit_per_min=weight_limit,
        window_s=weight_window,
        ban_after=ban_after,
        ban_base_s=ban_seconds,
        ban_max_s=max(ban_seconds, 3 * 86_400.0),
    )
    per_kind = {
        "error_5xx": fault_5xx,
        "timeout": fault_timeout,
        "drop": fault_drop,
        "malformed": fault_malformed,
    }
    faults = FaultConfig.mixed(fault_rate, seed=fault_seed, hang_s=fault_hang).updated(
        {k: v for k, v in per_kind.items() if v is not None}
    )
    return create_emulator_app(
        seed=seed,
        n_symbols=n_symbols,
        latency_ms=latency_ms,
        clock=clock,
        limits=limits,
        faults=faults,
    )


def run_emulator(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    seed: int = 42,
    n_symbols: int = 160,
    latency_ms: float = 0.0,
    **options: Any,
) -> None:
    """Serve the emulator until interrupted (Ctrl-C); ``options`` as
    :func:`emulator_from_options` (e.g. ``fault_rate=0.2``, ``weight_limit=1200``)."""
    app = emulator_from_options(seed=seed, n_symbols=n_symbols, latency_ms=latency_ms, **options)
    st = app.state
    logger.info(
        "exchange emulator on http://%s:%s (seed %s; weight limit %s per %ss%s; faults %.0f%%)",
        host,
        port,
        seed,
        st.limiter.config.weight_limit_per_min,
        st.limiter.config.window_s,
        "" if st.limiter.config.enabled else " not enforced",
        st.plan.config.total * 100,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def serve_in_thread(
    app: Any, *, port: int = 0, lifespan: Literal["on", "off"] = "on", **options: Any
) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a background thread; yield its base URL.

    ``port=0`` picks a free port; ``options`` go to ``uvicorn.Config``. The server is
    stopped (and the thread joined) on exit.
    Used for the emulator here and for the app itself in tests and benchmarks.
    """
    options.setdefault("access_log", False)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan, **options
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
    limits: LimitConfig | None = None,
    faults: FaultConfig | None = None,
) -> Iterator[str]:
    """Run the emulator on 127.0.0.1 in a background thread; yield its base URL.

    ``limits`` default: Binance's, enforced; ``faults`` default: none. Change either at
    runtime with ``POST {url}/_emulator/config``."""
    app = create_emulator_app(
        seed=seed,
        n_symbols=n_symbols,
        latency_ms=latency_ms,
        clock=clock,
        limits=limits,
        faults=faults,
    )
    with serve_in_thread(app, port=port, lifespan="off") as url:
        yield url
