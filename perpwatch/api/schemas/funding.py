"""Response shapes of ``/funding_monitor`` (its own legacy envelope, not ``code/msg/data``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from perpwatch.tasks.models import TaskStatus


class FundingError(BaseModel):
    status: Literal["error"]
    message: str
    timestamp: str


class FundingSubmitted(BaseModel):
    status: Literal["success"]
    message: str
    task_id: str
    deduplicated: bool
    timestamp: str
    note: str


class LegacyTaskStatus(BaseModel):
    """``status`` plus the fields of that state (see the README)."""

    status: TaskStatus | Literal["not_found"]
    submit_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    duration: float | None = None
    result: Any | None = None
    error: str | None = None
    error_type: str | None = None


class FundingTaskStatus(BaseModel):
    status: Literal["success"]
    task_id: str = Field(description="as asked (shortened and made printable if malformed)")
    task_status: LegacyTaskStatus
    timestamp: str


class FundingContract(BaseModel):
    symbol: str
    exchange: str
    funding_rate: float
    funding_interval: str
    funding_interval_hours: int
    next_funding_time: str
    next_funding_time_ms: int
    mark_price: float
    index_price: float
    apr: float
    last_updated: str
    last_updated_ms: int
    data_source: Literal["real_time", "cached"]


class ExchangeState(BaseModel):
    source: Literal["real_time", "cached", "missing"]
    count: int
    data_time: str | None
    age_s: float | None
    error: str | None


class FundingSnapshot(BaseModel):
    status: Literal["success"]
    data_status: Literal["success", "partial"]
    exchange: str
    contracts: dict[str, FundingContract]
    count: int
    by_exchange: dict[str, dict[str, FundingContract]]
    exchanges: dict[str, ExchangeState]
    real_time_count: int
    cached_count: int
    total_count: int
    fast_mode: bool
    execution_time: float
    timestamp: str


class ArbitrageLeg(BaseModel):
    exchange: str
    funding_rate: float
    funding_interval: str
    apr: float
    mark_price: float
    next_funding_time: str


class ArbitrageRow(BaseModel):
    symbol: str
    exchanges: int = Field(description="venues listing the symbol")
    long: ArbitrageLeg
    short: ArbitrageLeg
    funding_spread: float
    spread_apr: float
    price_gap_pct: float


class ArbitrageTable(BaseModel):
    status: Literal["success"]
    sort_by: Literal["apr", "spread"]
    min_spread_apr: float
    count: int
    total: int
    exchanges: list[str]
    opportunities: list[ArbitrageRow]
    timestamp: str
