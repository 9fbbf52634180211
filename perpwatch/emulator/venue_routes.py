"""Starlette routes of the Bybit v5 and OKX v5 emulators: envelopes, errors, caching.

Limits, faults and latency are applied in front of these
(:mod:`perpwatch.emulator.front`). All-symbols answers come from the per-second
cache (:mod:`perpwatch.emulator.bodycache`).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perpwatch.emulator.bodycache import SecondCache, render_json
from perpwatch.emulator.bybit import BybitEmulator, BybitError
from perpwatch.emulator.okx import OkxEmulator, OkxError
from perpwatch.emulator.weights import EmulatorStats
from perpwatch.errors import UnknownSymbol
from perpwatch.market.sim.model import SimUniverse

_ALL_INSTRUMENTS = frozenset(
    {
        "/api/v5/public/instruments",
        "/api/v5/public/funding-rate",
        "/api/v5/public/mark-price",
        "/api/v5/market/index-tickers",
        "/api/v5/market/tickers",
    }
)


def bybit_routes(
    universe: SimUniverse, stats: EmulatorStats, clock: Callable[[], float], cache: SecondCache
) -> list[Route]:
    """Starlette routes of the Bybit v5 endpoints; every request counted in ``stats``;
    all-symbols answers from ``cache`` within the same second."""
    emu = BybitEmulator(universe)

    async def endpoint(request: Request) -> Response:
        path, params, now_s = request.url.path, request.query_params, clock()
        now_ms = int(now_s * 1000)
        stats.record(path, 0, params)  # request weights are Binance's; Bybit counts requests
        handler = emu.handlers[path]

        def render() -> bytes:
            code, msg, result = 0, "OK", {}
            try:
                result = handler(params, now_ms)
            except BybitError as e:
                code, msg = e.code, e.msg
            except UnknownSymbol:
                code, msg = 10001, "Not supported symbols"
            return render_json(
                {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms}
            )

        if path != "/v5/market/time" and SecondCache.cacheable(params):
            return Response(
                cache.get_or_render(path, str(params), now_s, render), media_type="application/json"
            )
        return Response(render(), media_type="application/json")

    return [Route(path, endpoint, methods=["GET"]) for path in emu.handlers]


def okx_routes(
    universe: SimUniverse, stats: EmulatorStats, clock: Callable[[], float], cache: SecondCache
) -> list[Route]:
    """Starlette routes of the OKX v5 endpoints; every request counted in ``stats``;
    all-instruments answers from ``cache`` within the same second."""
    emu = OkxEmulator(universe)

    async def endpoint(request: Request) -> Response:
        path, params, now_s = request.url.path, request.query_params, clock()
        stats.record(path, 0, params)  # request weights are Binance's; OKX counts requests
        handler = emu.handlers[path]

        def render() -> bytes:
            data = handler(params, int(now_s * 1000))
            return render_json({"code": "0", "msg": "", "data": data})

        try:
            if path in _ALL_INSTRUMENTS and SecondCache.cacheable(params):
                body = cache.get_or_render(path, str(params), now_s, render)
            else:
                body = render()
        except OkxError as e:
            return JSONResponse({"code": e.code, "msg": e.msg, "data": []}, e.status)
        return Response(body, media_type="application/json")

    return [Route(path, endpoint, methods=["GET"]) for path in emu.handlers]
