"""What the schedules report: the HAMA schedule's status and its runs, and the funding check.

These are the shapes themselves, not copies: ``scheduler/status`` and ``/health`` serve
them (``perpwatch.api.schemas.analysis`` builds the response on :class:`ScheduleStatus`),
the leader publishes :class:`ScheduleStatus` as JSON (``model_dump(mode="json")``) in the
shared state, and the other processes parse it back with ``model_validate``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class RunReport(BaseModel):
    """A finished (or stopped) refresh run: ``last_run`` and a ``hama_refresh`` task's result."""

    started: str
    finished: str | None
    total: int
    ok: int
    failed: int
    duration_s: float | None
    failures: dict[str, str] = Field(description="every failed symbol, with its reason")
    cycle_id: str | None = None
    shards: dict[str, Any] | None = Field(
        default=None, description="a distributed cycle's shards: done, running, failed, by whom"
    )


class RunProgress(BaseModel):
    """The run going now (``current_run``)."""

    done: int
    total: int
    failed: int
    started: str
    cycle_id: str | None
    shards: dict[str, Any] | None


class ScheduleStatus(BaseModel):
    """The HAMA schedule as one process runs it (or, on another process, as the leader
    published it)."""

    running: bool
    symbols_count: int
    symbols: list[str]
    interval_minutes: float
    effective_interval_seconds: float
    last_run: RunReport | None
    current_run: RunProgress | None
    next_run: str | None
    runs: int
    runs_skipped: int
    list_error: str | None
    consecutive_failed_runs: int = 0
    last_ok_run: str | None = None
    exchange_error: str | None = None


class FundingCheckStatus(BaseModel):
    """The periodic funding check of this process."""

    running: bool
    interval_seconds: float
    successes: int
    failures: int
    consecutive_failures: int
    last_error: str | None
    last_check: str | None
    last_success: str | None
    pending_task_id: str | None


class FundingCheckOff(BaseModel):
    """No funding check in this process (``FUNDING_CHECK_ENABLED=false``)."""

    running: Literal[False] = False
