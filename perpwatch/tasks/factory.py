"""The task manager the settings ask for."""

from __future__ import annotations

from typing import Any

from perpwatch.errors import ConfigError
from perpwatch.settings import Settings
from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.fallback import FallbackTaskManager
from perpwatch.tasks.inprocess import InProcessTaskManager
from perpwatch.tasks.operations import OperationRegistry
from perpwatch.tasks.saq.backend import SaqTaskManager

LOCAL_ID_PREFIX = "local-"


def build_task_manager(settings: Settings, *, registry: OperationRegistry, ctx: Any) -> TaskManager:
    """``TASK_BACKEND=inprocess`` (default): :class:`InProcessTaskManager`.

    ``TASK_BACKEND=saq``: :class:`SaqTaskManager` on ``settings.redis_dsn`` (with a local
    SAQ worker when ``TASK_LOCAL_WORKER``), falling back to in-process tasks while Redis
    is down; on a Redis Cluster with ``REDIS_CLUSTER``. Not started: the caller runs
    ``await m.start()`` and, at shutdown, ``await m.close(settings.task_shutdown_grace)``.
    """
    if settings.task_backend == "inprocess":
        return _local(settings, registry, ctx, id_prefix="")
    if not settings.redis_enabled:
        raise ConfigError("invalid setting TASK_BACKEND: saq needs Redis (REDIS_ENABLED=false)")
    primary = SaqTaskManager(
        redis_url=settings.redis_dsn,
        registry=registry,
        ctx=ctx,
        result_ttl_s=settings.task_result_ttl,
        default_timeout_s=settings.task_timeout,
        local_worker=settings.task_local_worker,
        worker_concurrency=settings.task_max_workers,
        cluster=settings.redis_cluster,
    )
    return FallbackTaskManager(primary, _local(settings, registry, ctx, id_prefix=LOCAL_ID_PREFIX))


def _local(
    settings: Settings, registry: OperationRegistry, ctx: Any, *, id_prefix: str
) -> InProcessTaskManager:
    return InProcessTaskManager(
        registry=registry,
        ctx=ctx,
        max_workers=settings.task_max_workers,
        result_ttl_s=settings.task_result_ttl,
        default_timeout_s=settings.task_timeout,
        id_prefix=id_prefix,
    )
