"""What the schedules report: the HAMA schedule's status and its runs, and the funding check.

These are the shapes themselves, not copies: ``scheduler/status`` and ``/health`` serve
them (``perpwatch.api.schemas.analysis`` builds the response on :class:`ScheduleStatus`),
the leader publishes :class:`ScheduleStatus` as JSON (``model_dump(mode="json")``) in the
shared state, and the other processes parse it back with ``model_validate``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from perpwatch.market.types import ExchangeState


class SignalLag(BaseModel):
    """How long after a candle close its analyses were in the cache (and pushed)."""

    candle_close: str = Field(description="the candle close (exchange time, UTC)")
    measured: int = Field(description="symbols whose analysis of this close is cached")
    missing: int = Field(description="symbols still without an analysis of this close")
    p50_s: float | None
    max_s: float | None


def signal_lag(close_ms: int, close_iso: str, times: list[tuple[int, str] | None]) -> SignalLag:
    """The lag of each cached analysis of the close ``close_ms``: its ``timestamp_ms``
    minus the close. ``times`` are the cached analyses' (timestamp_ms, candle_close_time),
    None where nothing is cached."""
    lags = sorted(
        (ts - close_ms) / 1000 for t in times if t is not None for ts, c in [t] if c == close_iso
    )
    if not lags:
        return SignalLag(candle_close=close_iso, measured=0, missing=len(times), p50_s=None,
                         max_s=None)  # fmt: skip
    return SignalLag(
        candle_close=close_iso,
        measured=len(lags),
        missing=len(times) - len(lags),
        p50_s=round(lags[(len(lags) - 1) // 2], 3),
        max_s=round(lags[-1], 3),
    )


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
    candle_close: str | None = Field(
        default=None, description="the candle close this run refreshed (null: between closes)"
    )
    signal_lag: SignalLag | None = None


class RunProgress(BaseModel):
    """The run going now (``current_run``)."""

    done: int
    total: int
    failed: int
    started: str
    cycle_id: str | None
    shards: dict[str, Any] | None


class TimeframeRun(BaseModel):
    """One refresh of a further timeframe (``HAMA_TIMEFRAMES`` after the first) at a
    candle close: only symbols whose cached analysis predates that close are computed."""

    candle_close: str = Field(description="the close refreshed (exchange time, UTC)")
    started: str
    finished: str | None
    total: int = Field(description="watched symbols")
    refreshed: int
    current: int = Field(description="already analysed for this close: not fetched again")
    failed: int
    duration_s: float | None
    failures: dict[str, str] = Field(default_factory=dict, description="up to 20, with reasons")
    signal_lag: SignalLag | None = None


class TimeframeStatus(BaseModel):
    """A further timeframe's refreshes: one at each of its candle closes, nothing between."""

    timeframe: str
    running: bool
    next_candle_close: str | None
    runs: int
    last_run: TimeframeRun | None


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
    timeframe: str | None = None
    candle_close_delay_s: float | None = Field(
        default=None, description="runs start this long after each candle close"
    )
    next_candle_close: str | None = None
    server_time_offset_ms: float | None = Field(
        default=None, description="exchange clock minus ours (null: never measured)"
    )
    signal_lag: SignalLag | None = Field(
        default=None, description="the last measured lag: candle close to analysis cached"
    )
    exchange_state: ExchangeState | None = Field(
        default=None, description="the scheduling process's exchange client: breaker, weight"
    )
    timeframes: list[TimeframeStatus] = Field(
        default_factory=list, description="the further timeframes (HAMA_TIMEFRAMES after the first)"
    )


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
