"""The FastAPI application factory and its lifespan, which owns every resource."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from perpwatch import __version__
from perpwatch.api.errors import install_error_handlers
from perpwatch.api.routers import funding_monitor, gainer_analysis, health, tasks
from perpwatch.runtime import open_runtime
from perpwatch.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            yield

    app = FastAPI(
        title="perpwatch",
        version=__version__,
        description=(
            "HAMA trend signals and funding rates for every USDT-margined perpetual, "
            "computed in the background and served from Redis (or memory)."
        ),
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(gainer_analysis.router)
    app.include_router(funding_monitor.router)
    app.include_router(tasks.router)
    app.include_router(health.router)
    return app
