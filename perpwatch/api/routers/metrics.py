"""``GET /metrics``: Prometheus metrics in the text format (0.0.4). Open, like every read."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from perpwatch.api.deps import RuntimeDep
from perpwatch.api.metrics_view import scrape_snapshot
from perpwatch.api.responses import errors
from perpwatch.metrics.exposition import CONTENT_TYPE, render
from perpwatch.metrics.http import HttpStats

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        **errors(),
        200: {
            "description": "Prometheus text exposition: this host's perpwatch processes "
            "(API and worker children) and this API process's own state",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
    summary="Prometheus metrics (text format 0.0.4)",
)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    stats: HttpStats = request.app.state.http_stats
    snapshot = await scrape_snapshot(runtime, stats)
    # reading every process's files and formatting: off the event loop
    body = await asyncio.to_thread(render, snapshot)
    return Response(body, media_type=CONTENT_TYPE)
