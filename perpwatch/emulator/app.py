"""The emulator app: Binance USD-M, Bybit v5 and OKX v5 behind one front, plus control
endpoints for tests, scripts and benchmarks."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from perpwatch.emulator.binance import BinanceEmulator, binance_routes
from perpwatch.emulator.bodycache import SecondCache
from perpwatch.emulator.faults import FaultConfig
from perpwatch.emulator.front import EmulatorApp, new_state
from perpwatch.emulator.limits import LimitConfig
from perpwatch.emulator.venue_routes import bybit_routes, okx_routes
from perpwatch.market.sim.model import SimUniverse

logger = logging.getLogger(__name__)


def create_emulator_app(
    *,
    seed: int = 42,
    n_symbols: int = 160,
    latency_ms: float = 0.0,
    clock: Callable[[], float] = time.time,
    limits: LimitConfig | None = None,
    faults: FaultConfig | None = None,
) -> EmulatorApp:
    """The simulated market as Binance USD-M (``/fapi``), Bybit v5 (``/v5``) and OKX v5
    (``/api/v5``) REST.

    ``clock`` returns epoch seconds; ``latency_ms`` delays every venue's answers;
    ``limits`` is Binance's per-IP weight limit (default: enforced, 2400 per minute;
    ``LimitConfig(enabled=False)`` only counts); ``faults`` the injected faults (default
    none). Control endpoints:

    - ``GET /_emulator/stats``: requests per path (every venue), weights, faults injected,
      429/418 answered, bans, weight per window.
    - ``POST /_emulator/reset``: those counters, weights and bans back to zero.
    - ``GET|POST /_emulator/config``: read or change ``down``, ``down_mode`` (``503`` or
      ``drop``), ``latency_ms``, ``faults`` (``{"rate": 0.2}`` or per kind), ``limits``,
      and ``use_weight`` (weight other processes on ``ip`` just used).
    """
    state = new_state(limits, faults, latency_ms)
    emu = BinanceEmulator(SimUniverse(seed, n_symbols), lambda: state.limiter.config.rate_limits())
    cache = SecondCache()

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {**emu.stats.as_json(), **state.stats(clock()), "body_cache_hits": cache.hits}
        )

    async def reset(request: Request) -> JSONResponse:
        emu.stats.reset()
        state.reset()
        return JSONResponse({})

    async def config(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("the body must be a JSON object")
                state.configure(body, clock())
            except (ValueError, TypeError) as e:
                return JSONResponse({"error": str(e)}, 400)
            logger.info("emulator configured: %s", body)
        return JSONResponse(state.as_json())

    async def unsupported(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        logger.warning("emulator: unsupported %s %s", request.method, request.url.path)
        msg = f"Path {request.url.path}, Method {request.method} is invalid"
        return JSONResponse({"code": -5000, "msg": msg}, status)

    routes = binance_routes(emu, cache, clock)
    routes += bybit_routes(emu.universe, emu.stats, clock, cache)
    routes += okx_routes(emu.universe, emu.stats, clock, cache)
    routes += [
        Route("/_emulator/stats", stats),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/config", config, methods=["GET", "POST"]),
    ]
    inner = Starlette(routes=routes, exception_handlers={404: unsupported, 405: unsupported})
    inner.state.emulator = emu
    return EmulatorApp(inner, state, clock)
