"""The simulator's venues: listings, funding intervals, rates and prices per venue."""

from __future__ import annotations

from collections import Counter

import pytest

from perpwatch.errors import UnknownSymbol
from perpwatch.market.sim.model import SimUniverse, sim_funding, sim_last_price, sim_ticker_24h
from perpwatch.market.sim.venues import BASIS_MAX, VENUES, venue_symbols

U = SimUniverse(42, 160)
HOUR_MS = 3_600_000
NOW_MS = 1_750_000_000_000 + 7 * 60_000 + 250


def test_default_venue_is_the_plain_simulator() -> None:
    for s in list(U)[:40]:
        f = sim_funding(U, s.symbol, NOW_MS)
        assert f == sim_funding(U, s.symbol, NOW_MS, "binanceusdm")
        assert f.funding_interval_h == s.funding_interval_h and f.exchange == "sim"
    assert venue_symbols(U, "binanceusdm") == [s.symbol for s in U]


def test_venues_differ_in_listing_intervals_rates_and_prices() -> None:
    listed = {v: set(venue_symbols(U, v)) for v in VENUES}
    where = Counter(frozenset(v for v in VENUES if s.symbol in listed[v]) for s in U)
    assert where[frozenset(VENUES)] > 100  # most contracts trade everywhere
    assert where[frozenset({"binanceusdm"})] > 0  # some on one venue, some on two
    assert where[frozenset({"binanceusdm", "okx"})] > 0
    assert where[frozenset({"binanceusdm", "bybit"})] > 0
    both = listed["bybit"] & listed["okx"]
    for venue in VENUES:
        counts = Counter(sim_funding(U, n, NOW_MS, venue).funding_interval_h for n in both)
        assert set(counts) == {1, 4, 8}
    intervals = [[sim_funding(U, n, NOW_MS, v).funding_interval_h for n in both] for v in VENUES]
    assert intervals[0] != intervals[1] != intervals[2] != intervals[0]
    rates = [[sim_funding(U, n, NOW_MS, v).funding_rate for n in sorted(both)] for v in VENUES]
    assert rates[0] != rates[1] != rates[2] != rates[0]
    for n in sorted(both)[:30]:
        base = sim_funding(U, n, NOW_MS).mark_price
        for venue in ("bybit", "okx"):
            f = sim_funding(U, n, NOW_MS, venue)
            assert 0 < abs(f.mark_price / base - 1) <= BASIS_MAX * 1.0001
            assert f.next_funding_time_ms % (f.funding_interval_h * HOUR_MS) == 0
            last = sim_last_price(U, n, NOW_MS, venue)
            assert abs(last / f.mark_price - 1) < 1e-4
    eth = [sim_ticker_24h(U, "ETHUSDT", NOW_MS, v).quote_volume for v in VENUES]
    assert eth[0] > eth[1] > eth[2]  # binanceusdm > bybit > okx


def test_unlisted_symbols_and_unknown_venues_are_refused() -> None:
    only_binance = next(s.symbol for s in U if s.symbol not in venue_symbols(U, "bybit"))
    with pytest.raises(UnknownSymbol):
        sim_funding(U, only_binance, NOW_MS, "bybit")
    with pytest.raises(UnknownSymbol):
        sim_last_price(U, only_binance, NOW_MS, "bybit")
    with pytest.raises(ValueError, match="unknown venue"):
        venue_symbols(U, "kraken")
