"""Which alerts an event calls for: pure functions of (rule, event, previous state).

Thresholds are strict where the rule says *above* (``|rate| > abs_rate_above``,
``apr > apr_above``, ``spread_apr > spread_apr_above``, ``age > older_than_s``) and
inclusive where it says *min*/*max* (``confidence >= min_confidence``, directional
alignment ``>= min_alignment``, ``|price_gap_pct| <= max_price_gap_pct``). Every
candidate carries the facts that triggered it, with their own times; nothing is made up.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from perpwatch.alerts.models import Candidate
from perpwatch.alerts.rules import ArbitrageRule, FundingRule, SignalChangeRule, StaleRule
from perpwatch.analysis.alignment import DIRECTION
from perpwatch.analysis.funding_monitor import FundingContract
from perpwatch.analysis.models import SignalChange
from perpwatch.api.schemas.funding import ArbitrageRow
from perpwatch.timeutil import iso_ms


class FundingTable(BaseModel):
    """The ``funding`` event: one exchange's whole table."""

    exchange: str
    fetched_at_ms: int
    rows: dict[str, FundingContract]


class ArbitrageView(BaseModel):
    """The ``arbitrage`` event (the fields alerts read)."""

    exchanges: list[str]
    opportunities: list[ArbitrageRow]
    timestamp_ms: int | None = None


def _wanted(symbols: list[str] | None, symbol: str) -> bool:
    return symbols is None or symbol in symbols


def directional_alignment(alignment: float | None, to: str) -> float | None:
    """The alignment in the direction of ``to`` (+ for BUY, - for SELL; HOLD has none)."""
    if alignment is None or to not in ("BUY", "SELL"):
        return None
    return alignment * DIRECTION["BUY" if to == "BUY" else "SELL"]


def match_signal_change(
    rule: SignalChangeRule,
    *,
    rule_id: str,
    change: SignalChange,
    source: str,
    alignment: float | None,
) -> Candidate | None:
    """A recommendation that changed to one of ``rule.to`` (a cross alone is not one)."""
    if "recommendation" not in change.changed or change.to == change.from_:
        return None
    if change.to not in rule.to or not _wanted(rule.symbols, change.symbol):
        return None
    if rule.timeframes is not None and change.timeframe not in rule.timeframes:
        return None
    if change.confidence < rule.min_confidence:
        return None
    directional = directional_alignment(alignment, change.to)
    if rule.min_alignment is not None and (directional is None or directional < rule.min_alignment):
        return None
    data: dict[str, object] = {
        "from": change.from_,
        "to": change.to,
        "confidence": change.confidence,
        "candle_close_time": change.candle_close_time,
        "computed_at": change.computed_at,
    }
    if alignment is not None:
        data["alignment"] = alignment
    return Candidate(
        rule_id=rule_id,
        kind="signal_change",
        source=source,
        change=f"to:{change.to}",
        symbol=change.symbol,
        timeframe=change.timeframe,
        title=f"{change.symbol} {change.timeframe}: {change.from_} -> {change.to}",
        text=(
            f"{change.symbol} {change.timeframe} changed from {change.from_} to {change.to} "
            f"(confidence {change.confidence:.2f}) at the candle closing "
            f"{change.candle_close_time}"
        ),
        data=data,
    )


def sign(rate: float) -> int:
    return 1 if rate > 0 else -1 if rate < 0 else 0


def next_signs(previous: Mapping[str, int], table: FundingTable) -> dict[str, int]:
    """The signs to remember after ``table``: the ones that changed. A rate of exactly 0
    keeps the previous sign, so + -> 0 -> - is one flip."""
    out: dict[str, int] = {}
    for symbol, row in table.rows.items():
        s = sign(row.funding_rate)
        if s != 0 and previous.get(symbol) != s:
            out[symbol] = s
    return out


def _funding_candidate(
    rule_id: str,
    source: str,
    row: FundingContract,
    change: str,
    title: str,
    text: str,
    extra: dict[str, object] | None = None,
) -> Candidate:
    data: dict[str, object] = {
        "funding_rate": row.funding_rate,
        "apr": row.apr,
        "funding_interval": row.funding_interval,
        "next_funding_time": row.next_funding_time,
        "mark_price": row.mark_price,
        "last_updated": row.last_updated,
        **(extra or {}),
    }
    return Candidate(
        rule_id=rule_id,
        kind="funding",
        source=source,
        change=change,
        symbol=row.symbol,
        exchange=row.exchange,
        title=title,
        text=text,
        data=data,
    )


def match_funding(
    rule: FundingRule,
    *,
    rule_id: str,
    table: FundingTable,
    previous_signs: Mapping[str, int],
    source: str,
) -> list[Candidate]:
    """One candidate per symbol and condition met (abs rate, APR, sign flip)."""
    if rule.exchanges is not None and table.exchange not in rule.exchanges:
        return []
    out: list[Candidate] = []
    for symbol, row in sorted(table.rows.items()):
        if not _wanted(rule.symbols, symbol):
            continue
        rate = row.funding_rate
        where = f"{symbol} on {table.exchange}"
        if rule.abs_rate_above is not None and abs(rate) > rule.abs_rate_above:
            out.append(
                _funding_candidate(
                    rule_id,
                    source,
                    row,
                    "abs_rate",
                    f"{where}: funding {rate:+.4%}",
                    f"{where}: funding rate {rate:+.4%} is beyond ±{rule.abs_rate_above:.4%}",
                    {"threshold": rule.abs_rate_above},
                )
            )
        if rule.apr_above is not None and row.apr > rule.apr_above:
            out.append(
                _funding_candidate(
                    rule_id,
                    source,
                    row,
                    "apr",
                    f"{where}: APR {row.apr:.2f}%",
                    f"{where}: funding APR {row.apr:.2f}% is above {rule.apr_above:.2f}%",
                    {"threshold": rule.apr_above},
                )
            )
        before = previous_signs.get(symbol, 0)
        now = sign(rate)
        if rule.sign_flip and before != 0 and now != 0 and now != before:
            side = "positive" if now > 0 else "negative"
            out.append(
                _funding_candidate(
                    rule_id,
                    source,
                    row,
                    "sign_flip",
                    f"{where}: funding turned {side}",
                    f"{where}: funding rate turned {side} ({rate:+.4%})",
                    {"previous_sign": before},
                )
            )
    return out


def match_arbitrage(
    rule: ArbitrageRule, *, rule_id: str, view: ArbitrageView, source: str
) -> list[Candidate]:
    out: list[Candidate] = []
    for o in view.opportunities:
        if not _wanted(rule.symbols, o.symbol) or not o.spread_apr > rule.spread_apr_above:
            continue
        if rule.max_price_gap_pct is not None and abs(o.price_gap_pct) > rule.max_price_gap_pct:
            continue
        legs = f"long {o.long.exchange} / short {o.short.exchange}"
        out.append(
            Candidate(
                rule_id=rule_id,
                kind="arbitrage",
                source=source,
                change=f"{o.long.exchange}>{o.short.exchange}",
                symbol=o.symbol,
                title=f"{o.symbol}: spread APR {o.spread_apr:.2f}%",
                text=f"{o.symbol}: {legs}, spread APR {o.spread_apr:.2f}% "
                f"(price gap {o.price_gap_pct:+.3f}%)",
                data={
                    "long": o.long.model_dump(mode="json"),
                    "short": o.short.model_dump(mode="json"),
                    "funding_spread": o.funding_spread,
                    "spread_apr": o.spread_apr,
                    "price_gap_pct": o.price_gap_pct,
                    "threshold": rule.spread_apr_above,
                    "view_timestamp_ms": view.timestamp_ms,
                },
            )
        )
    return out


def match_stale(
    rule: StaleRule,
    *,
    rule_id: str,
    computed_ms: Mapping[str, int],
    now_ms: int,
    timeframe: str,
    exchange: str,
    breaker_open: bool,
    source: str,
) -> list[Candidate]:
    """``computed_ms``: when each watched symbol's cached analysis was computed (a symbol
    with none is not judged: there is no data to call old)."""
    out: list[Candidate] = []
    if rule.older_than_s is not None:
        for symbol, at_ms in sorted(computed_ms.items()):
            if not _wanted(rule.symbols, symbol):
                continue
            age_s = (now_ms - at_ms) / 1000
            if age_s > rule.older_than_s:
                out.append(
                    Candidate(
                        rule_id=rule_id,
                        kind="stale",
                        source=source,
                        change="old",
                        symbol=symbol,
                        timeframe=timeframe,
                        exchange=exchange,
                        title=f"{symbol} {timeframe}: data {age_s:.0f} s old",
                        text=f"{symbol} {timeframe}: the latest analysis was computed "
                        f"{iso_ms(at_ms)}, {age_s:.0f} s ago (limit {rule.older_than_s:g} s)",
                        data={
                            "computed_at": iso_ms(at_ms),
                            "age_s": round(age_s, 3),
                            "older_than_s": rule.older_than_s,
                        },
                    )
                )
    if rule.breaker_open and breaker_open:
        out.append(
            Candidate(
                rule_id=rule_id,
                kind="stale",
                source=source,
                change="breaker_open",
                exchange=exchange,
                title=f"{exchange}: circuit breaker open",
                text=f"{exchange} counts as down: requests to it are not sent (breaker open)",
                data={"breaker_open": True, "checked_at": iso_ms(now_ms)},
            )
        )
    return out
