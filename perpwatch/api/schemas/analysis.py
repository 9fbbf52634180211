"""Request bodies and response shapes of the REST API.

Request models are strict (no type coercion: ``"5"`` is not a number, ``"yes"`` not a
boolean) and reject unknown fields. Symbol fields declare the accepted spelling as a
``pattern`` for clients and the schema fuzzer, but it is checked by
:func:`perpwatch.symbols.normalize_symbol` (HTTP 400), not by the model, so a bad name gets
the same clear message everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from perpwatch.analysis.models import AnalysisDocument, Recommendation, Trend
from perpwatch.symbols import MAX_SYMBOL_LENGTH
from perpwatch.tasks.models import TaskStatus

# Every supported exchange lists fewer than 1000 USDT perpetuals (Binance about 500), and
# 1000 names of up to 40 characters fit in the default 64 KiB body limit, so a list the
# schema allows is never refused as too large (413).
MAX_SCHEDULER_SYMBOLS = 1000
SYMBOL_PATTERN = r"^\s*[A-Za-z0-9/:_-]{2,40}\s*$"

SymbolField = Annotated[
    str,
    Field(
        max_length=MAX_SYMBOL_LENGTH,
        json_schema_extra={"pattern": SYMBOL_PATTERN},
        examples=["BTCUSDT"],
    ),
]
SymbolList = Annotated[
    list[SymbolField],
    Field(max_length=MAX_SCHEDULER_SYMBOLS, json_schema_extra={"minItems": 1}),
]

_REQUEST = ConfigDict(extra="forbid", strict=True)


class AnalyzeRequest(BaseModel):
    """``force_refresh: true`` needs the API key when API_KEY is set."""

    model_config = _REQUEST
    symbol: SymbolField
    force_refresh: StrictBool = False


class SchedulerStartRequest(BaseModel):
    model_config = _REQUEST
    symbols: SymbolList | None = Field(
        default=None, description="watch exactly these (an empty list: 400)"
    )
    interval_minutes: float | None = Field(default=None, ge=1, le=1440)


class RefreshRequest(BaseModel):
    model_config = _REQUEST
    symbols: SymbolList | None = Field(default=None, description="default: the watched list")


class RefreshSubmitted(BaseModel):
    task_id: str
    deduplicated: bool
    status: TaskStatus
    status_url: str


class SignalRow(BaseModel):
    """One row of ``signals``: a cached analysis, summed up."""

    symbol: str
    recommendation: Recommendation
    confidence: float
    trend: Trend
    deviation_pct: float
    realtime_price: float
    candle_close_time: str
    timestamp: str
    age_seconds: float
    stale: bool

    @classmethod
    def from_document(
        cls, symbol: str, doc: dict[str, Any], *, age_seconds: float, stale: bool
    ) -> SignalRow:
        """The row of a cached analysis document (as stored: plain JSON)."""
        h = doc["hama_analysis"]
        return cls(
            symbol=symbol,
            recommendation=h["recommendation"],
            confidence=h["confidence"],
            trend=h["trend"],
            deviation_pct=h["signals"]["deviation_pct"],
            realtime_price=h["signals"]["realtime_price"],
            candle_close_time=doc["candle_close_time"],
            timestamp=doc["timestamp"],
            age_seconds=age_seconds,
            stale=stale,
        )


class SignalsData(BaseModel):
    count: int
    signals: list[SignalRow]
    missing: list[str]


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
    cycle_id: str | None = None
    shards: dict[str, Any] | None = Field(
        default=None, description="a distributed cycle's shards: done, running, failed, by whom"
    )


class Coordination(BaseModel):
    """The processes sharing this Redis (or ``mode`` single process, without Redis)."""

    mode: str
    role: str
    is_leader: bool
    process_id: str | None = None
    candidate: bool | None = None
    leader: str | None = Field(default=None, description="process id holding the lease")
    lease_expires_in_s: float | None = None
    lease_seconds: float | None = None
    processes: list[dict[str, Any]] = Field(default_factory=list)
    workers: list[str] = Field(default_factory=list)
    error: str | None = None


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
    consecutive_failed_runs: int = 0
    last_ok_run: str | None = None
    exchange_error: str | None = None
    cache_stats: SchedulerCacheStats
    funding_check: dict[str, Any]
    coordination: Coordination | None = None
    control: dict[str, Any] | None = Field(
        default=None, description="an API-only replica: the start/stop it asked the leader for"
    )


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
