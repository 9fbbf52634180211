"""Response shapes of ``/api/tasks`` and ``/health``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from perpwatch.api.schemas.cluster import CoordinationStatus
from perpwatch.push.status import PushStatus
from perpwatch.tasks.models import TaskInfo


class TaskView(TaskInfo):
    """A task; ``result`` is left out of lists unless ``include_result=true``."""

    submitted_time: str
    start_time: str | None
    end_time: str | None


class TaskList(BaseModel):
    count: int
    tasks: list[TaskView]


class RedisHealth(BaseModel):
    state: Literal["up", "down", "disabled"]
    cache_source: Literal["redis", "memory"]
    errors: int
    outages: int


class ExchangeHealth(BaseModel):
    name: str
    ok: bool
    list_error: str | None
    error: str | None
    consecutive_failed_runs: int
    last_run_failed: int | None
    last_run_ok: int | None


class SchedulerHealth(BaseModel):
    running: bool
    symbols_count: int


class HealthReport(BaseModel):
    """``/health``: ``degraded`` when Redis is down or the exchange gives nothing; ``ready``
    once a refresh has produced data (the schedule part is the leader's where another
    process runs it)."""

    status: Literal["ok", "degraded"]
    live: bool
    ready: bool
    version: str
    uptime_s: float
    redis: RedisHealth
    exchange: ExchangeHealth
    scheduler: SchedulerHealth
    coordination: CoordinationStatus = Field(
        description="role, leader, lease and live processes (see scheduler/status)"
    )
    push: PushStatus | None = Field(
        default=None, description="this API process's live push: clients, queues, the bus"
    )


class NotReady(BaseModel):
    """503 from ``/health/ready``: the error envelope, with the report as ``data``."""

    code: Literal[0]
    msg: str
    data: HealthReport
