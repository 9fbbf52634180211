"""Funding-rate arithmetic: annualised yield and the cross-exchange arbitrage view (pure).

``apr`` is simple annualisation in percent: ``rate × (24 / interval_h) × 365 × 100`` --
the yield of holding the paid side for a year at this rate, not compounded. Each
contract uses its own interval, so a 1h and an 8h contract compare fairly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from perpwatch.market.types import FundingRate

HOURS_PER_YEAR = 24 * 365


def periods_per_year(interval_h: int) -> float:
    if interval_h <= 0:
        raise ValueError("funding interval must be positive")
    return HOURS_PER_YEAR / interval_h


def apr_pct(funding_rate: float, interval_h: int) -> float:
    """Annualised funding in percent (simple)."""
    return funding_rate * periods_per_year(interval_h) * 100.0


@dataclass(frozen=True, slots=True)
class Leg:
    exchange: str
    funding_rate: float
    funding_interval_h: int
    apr: float
    mark_price: float
    next_funding_time_ms: int


@dataclass(frozen=True, slots=True)
class Opportunity:
    """Long the perpetual where funding is lowest, short it where it is highest.

    Longs pay positive funding and shorts receive it, so the pair earns the difference
    of the two legs' annualised rates while staying flat in price.
    """

    symbol: str
    long: Leg
    short: Leg
    funding_spread: float  # short.funding_rate - long.funding_rate, per own period
    spread_apr: float  # short.apr - long.apr, percent
    price_gap_pct: float  # (short.mark - long.mark) / long.mark * 100
    exchanges: int  # venues listing the symbol


SortKey = Literal["spread", "apr"]


def _leg(r: FundingRate) -> Leg:
    return Leg(
        exchange=r.exchange,
        funding_rate=r.funding_rate,
        funding_interval_h=r.funding_interval_h,
        apr=apr_pct(r.funding_rate, r.funding_interval_h),
        mark_price=r.mark_price,
        next_funding_time_ms=r.next_funding_time_ms,
    )


def arbitrage(
    rates: Iterable[FundingRate],
    *,
    min_spread_apr: float = 0.0,
    sort_by: SortKey = "apr",
) -> list[Opportunity]:
    """Best long and short leg per symbol listed on two or more exchanges.

    Legs are chosen by annualised rate (so intervals are comparable). ``min_spread_apr``
    drops pairs whose ``spread_apr`` is below it. ``sort_by``: ``apr`` (the spread's APR)
    or ``spread`` (the raw per-period funding spread), largest first.
    """
    by_symbol: dict[str, dict[str, Leg]] = {}
    for r in rates:
        by_symbol.setdefault(r.symbol, {})[r.exchange] = _leg(r)
    out: list[Opportunity] = []
    for symbol, legs in by_symbol.items():
        if len(legs) < 2:
            continue
        ordered = sorted(legs.values(), key=lambda leg: (leg.apr, leg.exchange))
        long, short = ordered[0], ordered[-1]
        spread_apr = short.apr - long.apr
        if spread_apr < min_spread_apr:
            continue
        gap = (short.mark_price - long.mark_price) / long.mark_price * 100.0
        out.append(
            Opportunity(
                symbol=symbol,
                long=long,
                short=short,
                funding_spread=short.funding_rate - long.funding_rate,
                spread_apr=spread_apr,
                price_gap_pct=gap,
                exchanges=len(legs),
            )
        )
    if sort_by == "spread":
        out.sort(key=lambda o: (-o.funding_spread, o.symbol))
    else:
        out.sort(key=lambda o: (-o.spread_apr, o.symbol))
    return out
