"""Request bodies and response shapes of the REST API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from perpwatch.analysis.models import AnalysisDocument
from perpwatch.symbols import MAX_SYMBOL_LENGTH

MAX_SCHEDULER_SYMBOLS = 5000


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(max_length=MAX_SYMBOL_LENGTH, examples=["BTCUSDT"])
    force_refresh: StrictBool = False


class SchedulerStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbols: list[str] | None = Field(
        default=None, max_length=MAX_SCHEDULER_SYMBOLS, description="watch exactly these"
    )
    interval_minutes: float | None = Field(default=None, ge=1, le=1440)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbols: list[str] | None = Field(
        default=None, max_length=MAX_SCHEDULER_SYMBOLS, description="default: the watched list"
    )


class ServedAnalysis(AnalysisDocument):
    cached: bool
    cache_source: Literal["redis", "memory"] | None
    age_seconds: float
    stale: bool
    stale_reason: str | None


class LastRun(BaseModel):
    started: str
    finished: str | None
    total: int
    ok: int
    failed: int
    duration_s: float | None
    failures: dict[str, str]


class SchedulerCacheStats(BaseModel):
    available: bool
    cached_symbols: int
    cache_ttl_seconds: int


class SchedulerStatus(BaseModel):
    enabled: bool
    running: bool
    symbols_count: int
    symbols: list[str]
    interval_minutes: float
    effective_interval_seconds: float
    last_run: LastRun | None
    current_run: dict[str, Any] | None
    next_run: str | None
    runs: int
    runs_skipped: int
    list_error: str | None
    cache_stats: SchedulerCacheStats
    funding_check: dict[str, Any]


class CacheStats(BaseModel):
    cache_type: Literal["redis", "memory"]
    redis_enabled: bool
    redis_available: bool
    cached_symbols: int
    cache_ttl_seconds: int
    hits: int
    misses: int
    hit_rate: float | None
    redis_errors: int
    redis_outages: int
    computations: int
    failures: int
    symbols: list[str]
