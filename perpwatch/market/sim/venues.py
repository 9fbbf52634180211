"""Venues of the simulated market: Binance USD-M, Bybit and OKX side by side.

The venues list mostly the same contracts but not all of them, pay funding on their own
schedules (1h, 4h and 8h all occur on each), price every contract with a small constant
basis (within +-0.05%) against the default venue and see different shares of its volume.

Pure and deterministic like :mod:`perpwatch.market.sim.model`: every value is a function of the
universe's seed, the symbol and the venue. The default venue, ``binanceusdm``, is exactly
the simulator as it was before venues existed: every contract, the universe's funding
intervals, no basis, the full volume and the original hash streams.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from perpwatch.errors import UnknownSymbol

VENUES: tuple[str, ...] = ("binanceusdm", "bybit", "okx")
DEFAULT_VENUE = "binanceusdm"
MAJORS = 10  # the highest-volume contracts: listed everywhere, funded every 8h everywhere
BASIS_MAX = 5e-4  # |price basis| of a venue against the default venue


@dataclass(frozen=True, slots=True)
class _Spec:
    volume_share: float  # of the default venue's volume
    unlisted: tuple[tuple[float, float], ...]  # listing-hash ranges this venue does not list
    streams: tuple[int, int, int]  # hash streams: funding-rate draw (two), index basis


# One listing hash per symbol decides where it trades: [0, .04) Binance only,
# [.04, .12) Binance and OKX, [.12, .22) Binance and Bybit, the rest on all three.
_SPECS: dict[str, _Spec] = {
    "binanceusdm": _Spec(1.0, (), (40, 41, 42)),
    "bybit": _Spec(0.45, ((0.0, 0.12),), (50, 51, 52)),
    "okx": _Spec(0.30, ((0.0, 0.04), (0.12, 0.22)), (60, 61, 62)),
}


class ListedContract(Protocol):
    """What a venue listing reads of one simulated contract
    (:class:`~perpwatch.market.sim.model.SimSymbol`)."""

    @property
    def symbol(self) -> str: ...
    @property
    def rank(self) -> int: ...
    @property
    def funding_interval_h(self) -> int: ...


class Universe(Protocol):
    """What a venue listing reads of the simulated universe
    (:class:`~perpwatch.market.sim.model.SimUniverse`): its seed and its contracts in
    volume order; hashable, as listings are cached per universe. Declared here so this
    module does not import the simulator."""

    @property
    def seed(self) -> int: ...
    def __iter__(self) -> Iterator[ListedContract]: ...
    def __hash__(self) -> int: ...


def _unit(*parts: int | str) -> float:
    """A stable uniform [0, 1) draw from ``parts`` (the same in every process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


@dataclass(frozen=True, slots=True)
class VenueTerms:
    """How one venue trades one contract."""

    interval_h: int  # funding interval, hours
    price_factor: float  # 1 + price basis against the default venue
    volume_share: float  # of the default venue's volume
    rate_streams: tuple[int, int]  # hash streams of the funding-rate draw
    index_stream: int  # hash stream of the index basis


@dataclass(frozen=True, slots=True)
class VenueListing:
    """What one venue lists and on which terms, in the universe's volume order."""

    venue: str
    terms: Mapping[str, VenueTerms]

    @property
    def symbols(self) -> list[str]:
        return list(self.terms)


@functools.lru_cache(maxsize=64)
def venue_listing(universe: Universe, venue: str) -> VenueListing:
    """The listing of ``venue`` (one of :data:`VENUES`) over ``universe``."""
    try:
        spec = _SPECS[venue]
    except KeyError:
        raise ValueError(f"unknown venue {venue!r}; use one of {', '.join(VENUES)}") from None
    seed = universe.seed
    if venue == DEFAULT_VENUE:
        intervals = {s.symbol: s.funding_interval_h for s in universe}
        factors = dict.fromkeys(intervals, 1.0)
    else:
        listed = [
            s
            for s in universe
            if s.rank < MAJORS
            or not any(lo <= _unit(seed, "listing", s.symbol) < hi for lo, hi in spec.unlisted)
        ]
        # like the universe's own draw: of the non-majors, ~5% pay hourly and ~20% every 4h
        order = sorted(
            (s.symbol for s in listed if s.rank >= MAJORS),
            key=lambda name: _unit(seed, "funding", venue, name),
        )
        n_1h, n_short = max(3, len(order) * 5 // 100), len(order) * 25 // 100
        short = {name: 1 if pos < n_1h else 4 for pos, name in enumerate(order[:n_short])}
        intervals = {s.symbol: short.get(s.symbol, 8) for s in listed}
        factors = {
            name: 1.0 + BASIS_MAX * (2.0 * _unit(seed, "basis", venue, name) - 1.0)
            for name in intervals
        }
    streams, index_stream = (spec.streams[0], spec.streams[1]), spec.streams[2]
    terms = {
        name: VenueTerms(h, factors[name], spec.volume_share, streams, index_stream)
        for name, h in intervals.items()
    }
    return VenueListing(venue, MappingProxyType(terms))


def venue_terms(universe: Universe, venue: str, symbol: str) -> VenueTerms:
    """The terms of ``symbol`` on ``venue``; :class:`UnknownSymbol` where it is not listed."""
    try:
        return venue_listing(universe, venue).terms[symbol]
    except KeyError:
        raise UnknownSymbol(symbol) from None


def venue_symbols(universe: Universe, venue: str) -> list[str]:
    """The contracts ``venue`` lists, highest volume first."""
    return venue_listing(universe, venue).symbols
