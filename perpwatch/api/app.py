"""The FastAPI application factory and its lifespan, which owns every resource."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from perpwatch import __version__
from perpwatch.api.errors import install_error_handlers
from perpwatch.api.middleware.body_limit import BodyLimitMiddleware
from perpwatch.api.middleware.hit_fast_path import PATH as HIT_PATH
from perpwatch.api.middleware.hit_fast_path import HitFastPath
from perpwatch.api.openapi import PerpwatchAPI
from perpwatch.api.routers import (
    alerts,
    dashboard,
    funding_monitor,
    gainer_analysis,
    health,
    metrics,
    push,
    tasks,
)
from perpwatch.api.routers.push import PushSocket
from perpwatch.api.security import ApiSecurity
from perpwatch.metrics.http import HttpMetrics, HttpStats
from perpwatch.runtime import open_runtime
from perpwatch.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, role="serve") as runtime:
            app.state.runtime = runtime
            yield

    app = PerpwatchAPI(
        title="perpwatch",
        version=__version__,
        description=(
            "HAMA trend signals and funding rates for every USDT-margined perpetual, "
            "computed in the background and served from Redis (or memory)."
        ),
        lifespan=lifespan,
    )
    security = ApiSecurity.from_settings(settings)
    app.state.security = security
    app.auth_enabled = security.auth_enabled
    install_error_handlers(app)
    app.include_router(gainer_analysis.router)
    app.include_router(funding_monitor.router)
    app.include_router(tasks.router)
    app.include_router(health.router)
    app.include_router(push.router)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.include_router(alerts.router)
    # the last added runs first: CORS (answers preflights), then the body limit
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # plain cache hits are answered in front of all of it, before FastAPI runs (see the
    # module), and count themselves in the HTTP metrics; then come the metrics, which count
    # every other request, and the push WebSocket (/ws), whose fan-out sends straight to
    # the server
    http_stats = HttpStats()
    app.state.http_stats = http_stats
    push_socket = PushSocket(
        app.framework, runtime=lambda: app.state.runtime, key_digest=security.key_digest
    )
    app.front = HitFastPath(
        HttpMetrics(push_socket, stats=http_stats, fixed=frozenset({HIT_PATH})),
        runtime=lambda: app.state.runtime,
        max_body_bytes=settings.max_body_bytes,
        stats=http_stats,
        cors=bool(settings.cors_origins),
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return app
