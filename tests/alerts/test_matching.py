"""Each rule kind fires on a constructed case and not on its near misses (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from perpwatch.alerts import matching
from perpwatch.alerts.rules import (
    RULE_SPEC,
    ArbitrageRule,
    FundingRule,
    SignalChangeRule,
    StaleRule,
)
from perpwatch.analysis.models import SignalChange

HOOK = {"type": "webhook", "url": "https://hooks.example.com/x", "secret": "s" * 16}


def rule(**fields: Any) -> Any:
    return RULE_SPEC.validate_python({"channel": HOOK, **fields})


def change(**fields: Any) -> SignalChange:
    base: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "timeframe": "15m",
        "from": "HOLD",
        "to": "BUY",
        "cross_from": 0,
        "cross_to": 1,
        "changed": ["recommendation", "cross"],
        "confidence": 0.8,
        "candle_close_time": "2026-12-01T10:15:00Z",
        "computed_at": "2026-12-01T10:15:02Z",
    }
    base.update(fields)
    return SignalChange.model_validate(base)


def sc(r: SignalChangeRule, c: SignalChange, alignment: float | None = None) -> bool:
    found = matching.match_signal_change(
        r, rule_id="r", change=c, source="signals:1", alignment=alignment
    )
    return found is not None


@pytest.mark.parametrize(
    ("fields", "c", "alignment", "fires"),
    [
        ({}, {}, None, True),
        ({}, {"to": "HOLD", "from": "BUY"}, None, False),  # HOLD not in the default `to`
        ({"to": ["HOLD"]}, {"to": "HOLD", "from": "BUY"}, None, True),
        ({}, {"changed": ["cross"], "to": "BUY", "from": "BUY"}, None, False),  # cross only
        ({"symbols": ["ETHUSDT"]}, {}, None, False),
        ({"symbols": ["ETHUSDT", "BTCUSDT"]}, {}, None, True),
        ({"timeframes": ["1h"]}, {}, None, False),
        ({"timeframes": ["1h", "15m"]}, {}, None, True),
        ({"min_confidence": 0.8}, {"confidence": 0.8}, None, True),  # inclusive
        ({"min_confidence": 0.8}, {"confidence": 0.7999}, None, False),
        ({"min_alignment": 0.5}, {}, 0.5, True),
        ({"min_alignment": 0.5}, {}, 0.4999, False),
        ({"min_alignment": 0.5}, {}, None, False),  # no alignment known: no pass
        ({"min_alignment": 0.5}, {"to": "SELL", "from": "BUY"}, -0.6, True),  # directional
        ({"min_alignment": 0.5}, {"to": "SELL", "from": "BUY"}, 0.6, False),
        ({"to": ["HOLD"], "min_alignment": 0.0}, {"to": "HOLD", "from": "BUY"}, 0.0, False),
    ],
)
def test_signal_change(
    fields: dict[str, Any], c: dict[str, Any], alignment: float | None, fires: bool
) -> None:
    assert sc(rule(kind="signal_change", **fields), change(**c), alignment) is fires


def test_signal_change_carries_the_facts_and_a_stable_id() -> None:
    r = rule(kind="signal_change")
    a = matching.match_signal_change(
        r, rule_id="r1", change=change(), source="signals:7", alignment=0.3
    )
    b = matching.match_signal_change(
        r, rule_id="r1", change=change(), source="signals:7", alignment=0.3
    )
    other = matching.match_signal_change(
        r, rule_id="r1", change=change(), source="signals:8", alignment=0.3
    )
    assert a is not None and b is not None and other is not None
    assert a.alert_id == b.alert_id != other.alert_id
    assert a.cooldown_digest == other.cooldown_digest  # same rule, subject, kind of change
    assert a.data == {
        "from": "HOLD",
        "to": "BUY",
        "confidence": 0.8,
        "alignment": 0.3,
        "candle_close_time": "2026-12-01T10:15:00Z",
        "computed_at": "2026-12-01T10:15:02Z",
    }


def row(symbol: str, rate: float, apr: float, exchange: str = "binanceusdm") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "exchange": exchange,
        "funding_rate": rate,
        "funding_interval": "8h",
        "funding_interval_hours": 8,
        "next_funding_time": "2026-12-01T16:00:00Z",
        "next_funding_time_ms": 1796140800000,
        "mark_price": 100.0,
        "index_price": 100.0,
        "apr": apr,
        "last_updated": "2026-12-01T10:00:00Z",
        "last_updated_ms": 1796119200000,
        "data_source": "real_time",
    }


def table(*rows: dict[str, Any], exchange: str = "binanceusdm") -> matching.FundingTable:
    return matching.FundingTable.model_validate(
        {"exchange": exchange, "fetched_at_ms": 1, "rows": {r["symbol"]: r for r in rows}}
    )


def funding(
    r: FundingRule, t: matching.FundingTable, prev: dict[str, int] | None = None
) -> list[str]:
    found = matching.match_funding(
        r, rule_id="r", table=t, previous_signs=prev or {}, source="funding:1"
    )
    return [f"{c.symbol}:{c.change}" for c in found]


def test_funding_abs_rate_is_strictly_above_either_sign() -> None:
    r = rule(kind="funding", abs_rate_above=0.001)
    t = table(row("AUSDT", 0.001, 1.0), row("BUSDT", 0.0010001, 1.1), row("CUSDT", -0.002, -2))
    assert funding(r, t) == ["BUSDT:abs_rate", "CUSDT:abs_rate"]


def test_funding_apr_is_strictly_above() -> None:
    r = rule(kind="funding", apr_above=50)
    assert funding(r, table(row("AUSDT", 0.0001, 50.0), row("BUSDT", 0.0001, 50.01))) == [
        "BUSDT:apr"
    ]


def test_funding_sign_flip_needs_a_known_previous_sign() -> None:
    r = rule(kind="funding", sign_flip=True)
    t = table(
        row("AUSDT", -0.0001, -1),
        row("BUSDT", 0.0001, 1),
        row("CUSDT", 0.0, 0),
        row("DUSDT", 0.0002, 2),
    )
    prev = {"AUSDT": 1, "BUSDT": 1, "CUSDT": -1}  # D: never seen -> no flip
    assert funding(r, t, prev) == ["AUSDT:sign_flip"]
    # a zero keeps the previous sign: + -> 0 -> - is one flip, not two
    assert matching.next_signs(prev, t) == {"AUSDT": -1, "DUSDT": 1}


def test_funding_filters_exchange_and_symbols() -> None:
    t = table(row("AUSDT", 0.01, 100, "bybit"), exchange="bybit")
    assert funding(rule(kind="funding", abs_rate_above=0.001, exchanges=["okx"]), t) == []
    assert funding(rule(kind="funding", abs_rate_above=0.001, exchanges=["bybit"]), t) == [
        "AUSDT:abs_rate"
    ]
    assert funding(rule(kind="funding", abs_rate_above=0.001, symbols=["BUSDT"]), t) == []


def view(spread_apr: float, gap: float, symbol: str = "AUSDT") -> matching.ArbitrageView:
    leg = {
        "funding_rate": 0.0001,
        "funding_interval": "8h",
        "apr": 10.0,
        "mark_price": 100.0,
        "next_funding_time": "2026-12-01T16:00:00Z",
    }
    return matching.ArbitrageView.model_validate(
        {
            "exchanges": ["binanceusdm", "bybit"],
            "timestamp_ms": 5,
            "opportunities": [
                {
                    "symbol": symbol,
                    "exchanges": 2,
                    "long": {**leg, "exchange": "binanceusdm"},
                    "short": {**leg, "exchange": "bybit"},
                    "funding_spread": 0.0002,
                    "spread_apr": spread_apr,
                    "price_gap_pct": gap,
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("fields", "spread", "gap", "fires"),
    [
        ({"spread_apr_above": 20}, 20.01, 5.0, True),
        ({"spread_apr_above": 20}, 20.0, 0.0, False),  # strictly above
        ({"spread_apr_above": 20, "max_price_gap_pct": 0.5}, 30, 0.5, True),  # inclusive
        ({"spread_apr_above": 20, "max_price_gap_pct": 0.5}, 30, -0.5001, False),  # |gap|
        ({"spread_apr_above": 20, "symbols": ["BUSDT"]}, 30, 0.0, False),
    ],
)
def test_arbitrage(fields: dict[str, Any], spread: float, gap: float, fires: bool) -> None:
    r: ArbitrageRule = rule(kind="arbitrage", **fields)
    found = matching.match_arbitrage(r, rule_id="r", view=view(spread, gap), source="arbitrage:1")
    assert bool(found) is fires


def stale(r: StaleRule, computed: dict[str, int], *, breaker: bool = False) -> list[str]:
    found = matching.match_stale(
        r,
        rule_id="r",
        computed_ms=computed,
        now_ms=100_000,
        timeframe="15m",
        exchange="sim",
        breaker_open=breaker,
        source="stale:100000",
    )
    return [f"{c.symbol}:{c.change}" for c in found]


def test_stale_age_is_strictly_older_than() -> None:
    r = rule(kind="stale", older_than_s=60)
    assert stale(r, {"AUSDT": 40_000, "BUSDT": 39_999, "CUSDT": 99_000}) == ["BUSDT:old"]
    assert stale(rule(kind="stale", older_than_s=60, symbols=["AUSDT"]), {"BUSDT": 0}) == []


def test_stale_breaker_open() -> None:
    r = rule(kind="stale", breaker_open=True)
    assert stale(r, {"AUSDT": 0}, breaker=False) == []  # an age rule it is not
    assert stale(r, {"AUSDT": 0}, breaker=True) == ["None:breaker_open"]
    assert stale(rule(kind="stale", older_than_s=1), {}, breaker=True) == []
