"""What ``perpwatch serve`` runs around the API: the embedded Redis and the workers.

``cmd_serve`` wraps uvicorn in :func:`supervise`. With neither ``EMBEDDED_REDIS`` nor
``SERVE_WORKERS`` it changes nothing. Otherwise it starts Redis (and waits for PING),
then the workers, and yields the settings the API runs with: ``REDIS_URL`` pointing at
the embedded Redis and, with workers, a pure API (no shards, no scheduler candidacy,
tasks submitted through SAQ for the workers to run). When uvicorn returns, or a signal
ends it, the workers are stopped first (they hand the lease over and requeue their
tasks), then Redis.

SIGTERM: uvicorn stops gracefully and then raises the signal again, which by default
kills the process before anything is stopped; here it raises :class:`SystemExit` (status
0) instead, so the ``with`` blocks unwind. A second SIGTERM or SIGINT while the children
are being stopped is logged and ignored; SIGKILL still ends everything at once, and then
the children end themselves (:mod:`perpwatch.embedded.child`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from perpwatch.embedded.redis_server import EmbeddedRedis
from perpwatch.embedded.workers import WorkerPool
from perpwatch.metrics.multiproc import MetricsDir
from perpwatch.settings import Settings

logger = logging.getLogger(__name__)

WORKER_STOP_MARGIN_S = 10.0  # beyond TASK_SHUTDOWN_GRACE: the SAQ stop and closing resources


def worker_env(settings: Settings, redis_url: str) -> dict[str, str]:
    """This process's environment, pointed at ``redis_url``, for ``perpwatch worker``."""
    env = {
        **os.environ,
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "TASK_BACKEND": "saq",
        "EMBEDDED_REDIS": "false",
        "SERVE_WORKERS": "0",
        "MARKET": settings.market,  # `serve --market` reaches the workers too
        "METRICS_PORT": "0",  # the API's /metrics has theirs (PROMETHEUS_MULTIPROC_DIR)
    }
    if settings.exchange_api_url:
        env["EXCHANGE_API_URL"] = settings.exchange_api_url
    return env


def pure_api(settings: Settings) -> Settings:
    """The serve process's settings while workers compute: answer, submit, nothing more."""
    return settings.model_copy(
        update={
            "process_shards": False,
            "hama_scheduler_auto_start": False,
            "task_backend": "saq",
            "task_local_worker": False,
        }
    )


@contextlib.contextmanager
def supervise(settings: Settings) -> Iterator[Settings]:
    """Start what ``settings`` ask for besides the API; yield the API's settings."""
    if not settings.embedded_redis and settings.serve_workers == 0:
        yield settings
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(_exit_on_signals())
        api = settings
        if settings.embedded_redis:
            if settings.redis_url:
                logger.info("EMBEDDED_REDIS=true: REDIS_URL is replaced by the embedded Redis")
            redis = stack.enter_context(EmbeddedRedis())
            api = api.model_copy(update={"redis_url": redis.url})
        if settings.serve_workers:
            # before the workers start: they inherit PROMETHEUS_MULTIPROC_DIR
            metrics_dir = stack.enter_context(MetricsDir())
            stack.enter_context(
                WorkerPool(
                    count=settings.serve_workers,
                    env=worker_env(api, api.redis_dsn),
                    stop_grace_s=settings.task_shutdown_grace + WORKER_STOP_MARGIN_S,
                    args=("worker",),
                    on_exit=metrics_dir.process_dead,
                )
            )
            api = pure_api(api)
        stack.callback(logger.info, "stopping the workers, then the embedded Redis")
        yield api


@contextlib.contextmanager
def _exit_on_signals() -> Iterator[None]:
    """SIGTERM/SIGINT raise once (SystemExit(0) / KeyboardInterrupt), then only log."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            logger.warning("stopping already (signal %d); SIGKILL ends it at once", signum)
            return
        raised = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(0)

    sigs = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, handler) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
