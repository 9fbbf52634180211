"""APR and arbitrage numbers against hand-computed cases."""

from __future__ import annotations

import pytest

from perpwatch.analysis.funding import apr_pct, arbitrage, periods_per_year
from perpwatch.market.types import FundingRate


def fr(symbol: str, exchange: str, rate: float, interval: int, mark: float = 100.0) -> FundingRate:
    return FundingRate(
        symbol=symbol,
        exchange=exchange,
        funding_rate=rate,
        funding_interval_h=interval,
        next_funding_time_ms=1_000 * interval,
        mark_price=mark,
        index_price=mark,
        timestamp_ms=0,
    )


@pytest.mark.parametrize(
    ("rate", "interval", "expected"),
    [
        (0.0001, 8, 10.95),  # 0.01 % every 8 h: 3 x 365 x 0.01 % = 10.95 %
        (0.0001, 4, 21.9),  # same rate twice as often
        (0.0001, 1, 87.6),
        (-0.00025, 8, -27.375),
        (0.0, 8, 0.0),
    ],
)
def test_apr(rate: float, interval: int, expected: float) -> None:
    assert apr_pct(rate, interval) == pytest.approx(expected)


def test_periods_per_year() -> None:
    assert periods_per_year(8) == 1095
    with pytest.raises(ValueError):
        periods_per_year(0)


def test_legs_are_chosen_by_apr_with_each_legs_own_interval() -> None:
    rates = [
        fr("BTCUSDT", "binanceusdm", 0.0001, 8, mark=100.0),  # 10.95 %
        fr("BTCUSDT", "bybit", 0.00005, 1, mark=100.2),  # 43.8 %: higher APR despite lower rate
        fr("BTCUSDT", "okx", -0.0001, 4, mark=99.9),  # -21.9 %
        fr("ETHUSDT", "binanceusdm", 0.0002, 8),
        fr("SOLUSDT", "okx", 0.001, 8),  # one venue only: no pair
    ]
    ops = arbitrage(rates)
    assert [o.symbol for o in ops] == ["BTCUSDT"]
    o = ops[0]
    assert (o.long.exchange, o.short.exchange) == ("okx", "bybit")
    assert o.spread_apr == pytest.approx(43.8 - (-21.9))
    assert o.funding_spread == pytest.approx(0.00005 - (-0.0001))
    assert o.price_gap_pct == pytest.approx((100.2 - 99.9) / 99.9 * 100)
    assert o.exchanges == 3
    assert o.long.next_funding_time_ms == 4000 and o.short.next_funding_time_ms == 1000


def test_sorting_and_minimum_spread() -> None:
    rates = [
        fr("AUSDT", "x", 0.0, 8),
        fr("AUSDT", "y", 0.0010, 8),  # spread 0.0010/period, 109.5 % APR
        fr("BUSDT", "x", 0.0, 8),
        fr("BUSDT", "y", 0.0004, 1),  # spread 0.0004/period, 350.4 % APR
        fr("CUSDT", "x", 0.0, 8),
        fr("CUSDT", "y", 0.00001, 8),  # 1.095 % APR
    ]
    assert [o.symbol for o in arbitrage(rates, sort_by="apr")] == ["BUSDT", "AUSDT", "CUSDT"]
    assert [o.symbol for o in arbitrage(rates, sort_by="spread")] == ["AUSDT", "BUSDT", "CUSDT"]
    assert [o.symbol for o in arbitrage(rates, min_spread_apr=100.0)] == ["BUSDT", "AUSDT"]
