"""Response shapes of ``/funding_monitor`` (its own legacy envelope, not ``code/msg/data``).

The funding report and its rows are :mod:`perpwatch.analysis.funding_monitor`'s models,
served as they are; the arbitrage rows are built here from the pure
:class:`~perpwatch.analysis.funding.Opportunity`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from perpwatch.analysis.funding import Leg, Opportunity
from perpwatch.analysis.funding_monitor import FundingReport
from perpwatch.timeutil import iso_s


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


class TaskNotFound(BaseModel):
    """An unknown, malformed or expired id."""

    status: Literal["not_found"] = "not_found"


class TaskQueued(BaseModel):
    status: Literal["queued"] = "queued"
    submit_time: str | None


class TaskRunning(BaseModel):
    status: Literal["running"] = "running"
    start_time: str | None
    duration: float = Field(description="seconds since it started")


class TaskCompleted(BaseModel):
    status: Literal["completed"] = "completed"
    result: Any
    end_time: str | None
    duration: float | None


class TaskFailed(BaseModel):
    status: Literal["failed"] = "failed"
    error: str | None
    error_type: str | None
    end_time: str | None
    duration: float | None


class TaskCancelled(BaseModel):
    status: Literal["cancelled"] = "cancelled"
    end_time: str | None
    duration: float | None


LegacyTaskStatus = Annotated[
    TaskNotFound | TaskQueued | TaskRunning | TaskCompleted | TaskFailed | TaskCancelled,
    Field(discriminator="status"),
]


class FundingTaskStatus(BaseModel):
    status: Literal["success"]
    task_id: str = Field(description="as asked (shortened and made printable if malformed)")
    task_status: LegacyTaskStatus
    timestamp: str


class FundingSnapshot(FundingReport):
    """``latest-rates``: the cached report, ``status`` always ``success`` and the
    report's own status as ``data_status``."""

    status: Literal["success"]
    data_status: Literal["success", "partial"]

    @classmethod
    def of(cls, report: FundingReport) -> FundingSnapshot:
        return cls(**{**dict(report), "status": "success"}, data_status=report.status)


class ArbitrageLeg(BaseModel):
    exchange: str
    funding_rate: float
    funding_interval: str
    apr: float
    mark_price: float
    next_funding_time: str

    @classmethod
    def of(cls, leg: Leg) -> ArbitrageLeg:
        return cls(
            exchange=leg.exchange,
            funding_rate=leg.funding_rate,
            funding_interval=f"{leg.funding_interval_h}h",
            apr=round(leg.apr, 6),
            mark_price=leg.mark_price,
            next_funding_time=iso_s(leg.next_funding_time_ms / 1000),
        )


class ArbitrageRow(BaseModel):
    symbol: str
    exchanges: int = Field(description="venues listing the symbol")
    long: ArbitrageLeg
    short: ArbitrageLeg
    funding_spread: float
    spread_apr: float
    price_gap_pct: float

    @classmethod
    def of(cls, o: Opportunity) -> ArbitrageRow:
        return cls(
            symbol=o.symbol,
            exchanges=o.exchanges,
            long=ArbitrageLeg.of(o.long),
            short=ArbitrageLeg.of(o.short),
            funding_spread=o.funding_spread,
            spread_apr=round(o.spread_apr, 6),
            price_gap_pct=round(o.price_gap_pct, 6),
        )


class ArbitrageTable(BaseModel):
    status: Literal["success"]
    sort_by: Literal["apr", "spread"]
    min_spread_apr: float
    count: int
    total: int
    exchanges: list[str]
    opportunities: list[ArbitrageRow]
    timestamp: str
