"""What ``/metrics`` reads of this API process at scrape time (:class:`Snapshot`).

Counters are copied on the event loop (cheap), the Redis reads (the leader's schedule,
the watched symbols' cached analyses, the task queue) are awaited with a bound, and
everything slow -- reading the analyses' times, the metric files, formatting -- is left
to the exposition thread. A read that fails or takes too long leaves its metric out.
"""

from __future__ import annotations

import asyncio
import logging
import platform
from collections.abc import Awaitable
from typing import TypeVar

from perpwatch import __version__
from perpwatch.api.cluster_view import shared_schedule_status
from perpwatch.constants import hama_analysis_key
from perpwatch.errors import PerpwatchError
from perpwatch.metrics.http import HttpStats
from perpwatch.metrics.snapshot import Snapshot
from perpwatch.runtime import Runtime

logger = logging.getLogger(__name__)

T = TypeVar("T")
READ_BUDGET_S = 1.0  # per Redis read: a scrape never hangs on a dead Redis


async def _bounded(what: str, read: Awaitable[T]) -> T | None:
    try:
        async with asyncio.timeout(READ_BUDGET_S):
            return await read
    except (TimeoutError, PerpwatchError) as e:
        logger.debug("metrics: %s not read: %s", what, e)
        return None


async def watched_analyses(runtime: Runtime) -> tuple[list[str | None], float | None]:
    """The cached analysis text of every watched symbol (None where none is cached), and
    the schedule's effective period: this process's schedule, else the leader's."""
    scheduler = runtime.scheduler
    shared = None
    if not scheduler.running:
        shared = await _bounded("shared schedule", shared_schedule_status(runtime))
    status = shared if shared is not None else scheduler.status()
    symbols = list(scheduler.symbols) or list(status.symbols) or list(runtime.settings.symbols)
    if not symbols:  # nobody listed them yet: what is cached (as /signals does)
        symbols = await _bounded("cached symbols", runtime.service.cached_symbols()) or []
    hits = await _bounded("analyses", runtime.cache.mget([hama_analysis_key(s) for s in symbols]))
    texts: list[str | None] = [] if hits is None else [h.value if h else None for h in hits]
    return texts, status.effective_interval_seconds


async def scrape_snapshot(runtime: Runtime, http: HttpStats) -> Snapshot:
    service, cache = runtime.service, runtime.cache
    analyses, interval = await watched_analyses(runtime)
    depth = None
    if runtime.tasks is not None:
        depth = await _bounded("task queue", runtime.tasks.queue_depth())
    hub = runtime.push.hub if runtime.push is not None else None
    return Snapshot(
        version=__version__,
        python=platform.python_version(),
        now_s=service.now(),
        http=http.snapshot(),
        hits={k: v for k, v in service.hits_by.items()},
        misses={k: v for k, v in service.misses_by.items()},
        redis_enabled=cache.redis_enabled,
        redis_up=cache.redis_available,
        redis_errors=cache.redis_errors,
        redis_outages=cache.outages,
        analyses=analyses,
        refresh_interval_s=interval,
        task_queue_depth=depth,
        push_clients=None if hub is None else len(hub.sessions),
    )
