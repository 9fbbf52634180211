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

from perpwatch.analysis.models import Recommendation, Trend
from perpwatch.analysis.service import ServedAnalysis as ServedAnalysis
from perpwatch.api.schemas.cluster import CoordinationStatus
from perpwatch.scheduler.models import FundingCheckOff, FundingCheckStatus, ScheduleStatus
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
    timeframe: str | None = Field(
        default=None,
        max_length=10,
        description="one of HAMA_TIMEFRAMES (default: the primary, the first of them)",
    )


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


class SchedulerCacheStats(BaseModel):
    available: bool
    cached_symbols: int
    cache_ttl_seconds: int


class SchedulerStatus(ScheduleStatus):
    """``scheduler/status``: the schedule (this process's, or the leader's where another
    process runs it), with this process's view of the cluster, the funding check and the
    cache."""

    coordination: CoordinationStatus
    enabled: bool
    funding_check: FundingCheckStatus | FundingCheckOff
    cache_stats: SchedulerCacheStats


class SchedulerControlStatus(SchedulerStatus):
    """An API-only replica's answer to start/stop: the status, and what it asked for."""

    control: dict[str, Any] = Field(description="the start/stop asked of the leader")


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
