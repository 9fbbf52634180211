"""A deterministic simulated perpetual-futures market: pure functions, no I/O, no clock.

Every value is a function of ``(seed, symbol, time)`` only. The price path ``p(t)`` is
defined for any epoch millisecond: a regime component (moves between hash-drawn levels,
then flat until the next regime), two smooth oscillations and multi-scale value noise.
A candle's open is ``p(open_time)`` and its close ``p(open_time + timeframe)``, so the same
candle is identical whichever range asks for it and each open equals the previous close.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from perpwatch.errors import UnknownSymbol
from perpwatch.market.sim.venues import DEFAULT_VENUE, venue_terms
from perpwatch.market.sim.venues import venue_symbols as venue_symbols
from perpwatch.market.types import Candles, FundingRate
from perpwatch.types import FloatArray, IntArray

U64Array = npt.NDArray[np.uint64]

EXCHANGE = "sim"
MIN_SYMBOLS = 150
_MASK = (1 << 64) - 1
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_CANDLE_MS = 900_000  # regime lengths are counted in 15m candles

# Ordered roughly by 24h quote volume: the first name gets the highest volume.
_BASES: tuple[str, ...] = tuple(
    """BTC ETH SOL XRP DOGE BNB 1000PEPE SUI ADA LINK AVAX LTC WIF TRX DOT BCH NEAR ENA TON
    APT ARB OP FIL UNI AAVE ATOM ETC INJ TIA SEI WLD 1000SHIB 1000BONK ORDI FET RENDER HBAR
    ONDO TAO JUP PENDLE STX IMX LDO CRV MKR RUNE GALA SAND MANA AXS APE DYDX GMX SNX COMP
    SUSHI 1INCH YFI BAL ZRX KAVA ALGO XLM XMR ZEC DASH EOS XTZ THETA VET ICP EGLD FLOW NEO
    QTUM IOTA ONT ZIL KSM CHZ ENJ BAT ANKR GRT SKL STORJ AR ROSE CELO ONE HOT IOST RVN SXP
    BAND COTI CTSI DENT CHR ALICE MASK AUDIO LRC CELR C98 DUSK FLM 1000FLOKI BOME MEW POPCAT
    NOT JTO PYTH W STRK ZK ZRO BLUR MEME 1000SATS 1000RATS BIGTIME ACE XAI MANTA ALT PIXEL
    PORTAL AEVO ETHFI BB REZ IO LISTA TNSR SAGA OMNI AI XVG ARKM ID HOOK MAGIC HIGH LQTY
    CYBER GAS SSV RDNT ARPA TRB BNT KNC AGLD API3 UMA PERP WOO JASMY GMT CFX ACH MINA QNT
    FXS HFT LPT IOTX RLC KAIA POL SUPER TWT ILV NMR YGG TRU OGN CKB PHB STG SPELL DODO RIF
    BICO EDU JOE NKN ONG RSR SFP SUN TLM VANRY XVS ZEN BEL BSV ATA GTC""".split()  # noqa: SIM905
)
# Reference prices (USDT) of the best-known contracts; the rest get a hashed small-cap price.
_PRICES: dict[str, float] = {
    "BTC": 85_000, "ETH": 3_000, "SOL": 150, "XRP": 2.2, "DOGE": 0.16, "BNB": 600,
    "1000PEPE": 0.011, "SUI": 3.2, "ADA": 0.7, "LINK": 15, "AVAX": 25, "LTC": 90, "WIF": 1.4,
    "TRX": 0.25, "DOT": 5, "BCH": 400, "NEAR": 3.5, "TON": 4, "APT": 7, "AAVE": 250,
    "UNI": 9, "ETC": 22, "INJ": 18, "MKR": 1_500, "TAO": 400, "XMR": 200, "ZEC": 50,
    "YFI": 6_500, "COMP": 50, "1000SHIB": 0.015, "1000BONK": 0.02, "ORDI": 30, "QNT": 90,
    "ARB": 0.6, "OP": 1.5, "FIL": 4, "ATOM": 6, "ENA": 0.5, "TIA": 5, "SEI": 0.4, "WLD": 2,
    "FET": 1.2, "RENDER": 6, "HBAR": 0.2, "ONDO": 1.2, "JUP": 0.8, "ICP": 8, "STX": 1.5,
}  # fmt: skip
_VOL = {"BTC": 0.6, "ETH": 0.8, "BNB": 0.7, "XRP": 0.9, "SOL": 0.9}
# value-noise octaves (scale ms, sigma); summed they give ~0.25% per 15m candle at vol 1
_NOISE_SCALES = np.array([[60_000], [300_000], [900_000], [3_600_000]], dtype=np.int64)
_NOISE_SIGMAS = np.array([[0.0007], [0.0009], [0.0013], [0.0012]]) * math.sqrt(12.0)
_OCTAVES = len(_NOISE_SCALES)
_STREAMS = (1, 1, 2, *range(10, 10 + _OCTAVES), *range(10, 10 + _OCTAVES))


def _mix(x: int) -> int:
    """splitmix64 finaliser on a Python int."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _key(*parts: int | str) -> int:
    """A stable 64-bit key of ``parts`` (unlike ``hash()``, the same in every process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@functools.lru_cache(maxsize=4096)
def _offsets(key: int, streams: tuple[int, ...]) -> U64Array:
    offsets = [_mix(key ^ (st * 0xD1B54A32D192ED03 & _MASK)) for st in streams]
    return np.array(offsets, dtype=np.uint64).reshape(-1, 1)


def _hash_units(key: int, streams: tuple[int, ...], idx: IntArray) -> FloatArray:
    """Uniform [0, 1) floats: splitmix64 of ``idx[r]`` in stream ``streams[r]``, row by row."""
    x = idx.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + _offsets(key, streams)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    out: FloatArray = (x >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


@dataclass(frozen=True, slots=True)
class SimSymbol:
    """The fixed parameters of one simulated contract."""

    symbol: str  # BTCUSDT
    base: str
    rank: int  # 0 = highest 24h quote volume
    key: int  # hash key of (seed, symbol)
    price0: float  # centre of the price path
    vol: float  # volatility multiplier
    price_decimals: int
    qty_decimals: int
    funding_interval_h: int  # 1, 4 or 8
    daily_quote_volume: float  # USDT per 24h, on average
    shape: tuple[float, ...]  # 12 hash units in [0, 1) that shape the price path

    @property
    def ccxt_symbol(self) -> str:
        return f"{self.base}/USDT:USDT"

    @property
    def tick_size(self) -> float:
        return 10.0**-self.price_decimals


def _make_symbol(seed: int, rank: int, base: str, interval_h: int) -> SimSymbol:
    symbol = f"{base}USDT"
    key = _key(seed, symbol)
    u = [float(x) for x in _hash_units(key, tuple(range(12)), np.zeros((12, 1), np.int64))[:, 0]]
    price0 = _PRICES.get(base, 10.0 ** (-3.7 + 5.0 * u[0])) * math.exp(0.2 * (u[1] - 0.5))
    vol = _VOL.get(base, 1.0 if base in _PRICES else 1.0 + u[2])
    price_decimals = min(8, max(0, math.ceil(-math.log10(price0 * 1e-5))))  # tick ~ 1e-5 x price
    qty_decimals = min(3, max(0, round(math.log10(price0)) - 1))
    daily_quote_volume = 1.2e10 / (rank + 1) ** 1.15 * math.exp(0.2 * (u[3] - 0.5))  # Zipf-like
    return SimSymbol(symbol, base, rank, key, price0, vol, price_decimals, qty_decimals,
                     interval_h, daily_quote_volume, tuple(u))  # fmt: skip


class SimUniverse:
    """The simulated contracts: real-looking USDT perpetual names, volume-ranked."""

    def __init__(self, seed: int = 42, n_symbols: int = 160) -> None:
        if n_symbols < MIN_SYMBOLS:
            raise ValueError(f"n_symbols must be at least {MIN_SYMBOLS}")
        self.seed = seed
        bases = [*_BASES[:n_symbols], *(f"SIM{i:04d}" for i in range(len(_BASES), n_symbols))]
        # funding intervals: the 10 majors pay every 8h; of the rest, 6% pay hourly, 24% 4h
        order = sorted(range(10, n_symbols), key=lambda i: _key(seed, "funding", bases[i]))
        n_1h, n_4h = max(3, len(order) * 6 // 100), len(order) * 30 // 100
        interval = dict.fromkeys(range(n_symbols), 8)
        interval |= {i: 1 if pos < n_1h else 4 for pos, i in enumerate(order[:n_4h])}
        self.symbols: tuple[SimSymbol, ...] = tuple(
            _make_symbol(seed, i, b, interval[i]) for i, b in enumerate(bases)
        )
        self._by_name = {s.symbol: s for s in self.symbols}

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[SimSymbol]:
        return iter(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_name

    def get(self, symbol: str) -> SimSymbol:
        """The parameters of ``symbol`` (canonical ``BTCUSDT``) or :class:`UnknownSymbol`."""
        try:
            return self._by_name[symbol]
        except KeyError:
            raise UnknownSymbol(symbol) from None


def _log_price(s: SimSymbol, t: IntArray) -> FloatArray:
    """log p(t) for epoch-millisecond times ``t`` (vectorised)."""
    u = s.shape
    regime_ms = int(160 + 360 * u[4]) * _CANDLE_MS  # regime k spans [k, k+1) * regime_ms
    k = t // regime_ms
    i = t // _NOISE_SCALES  # (octaves, n)
    h = _hash_units(s.key, _STREAMS, np.concatenate([np.stack([k, k + 1, k]), i, i + 1]))
    frac = (t - k * regime_ms) / regime_ms
    move = 0.35 + 0.5 * h[2]  # share of the regime spent moving between the two levels
    amp = (0.16 + 0.28 * u[5]) * s.vol
    out: FloatArray = amp * (h[0] + (h[1] - h[0]) * np.clip(frac / move, 0, 1) - 0.5)
    p1, p2 = (1 + 2 * u[7]) * _DAY_MS, (0.125 + 0.3 * u[10]) * _DAY_MS  # two oscillations
    osc = (0.0015 + 0.004 * u[6]) * np.sin(2 * math.pi * (t / p1 + u[8]))
    out += s.vol * (osc + (0.001 + 0.002 * u[9]) * np.sin(2 * math.pi * (t / p2 + u[11])))
    n0, n1 = h[3 : 3 + _OCTAVES], h[3 + _OCTAVES :]
    w = (t % _NOISE_SCALES) / _NOISE_SCALES
    out += (_NOISE_SIGMAS * s.vol * (n0 + (n1 - n0) * w - 0.5)).sum(axis=0)
    out += math.log(s.price0)
    return out


def _price(s: SimSymbol, t_ms: int) -> float:  # unrounded p(t)
    return math.exp(float(_log_price(s, np.array([t_ms], dtype=np.int64))[0]))


def sim_last_price(universe: SimUniverse, symbol: str, now_ms: int,
                   venue: str = DEFAULT_VENUE) -> float:  # fmt: skip
    """The last traded price at ``now_ms``: p(now) x venue basis, rounded to the tick."""
    s, f = universe.get(symbol), venue_terms(universe, venue, symbol).price_factor
    return round(_price(s, now_ms) * f, s.price_decimals)


def sim_candles(
    universe: SimUniverse,
    symbol: str,
    *,
    timeframe_ms: int,
    start_open_ms: int,
    count: int,
    now_ms: int | None = None,
) -> Candles:
    """``count`` candles from ``start_open_ms`` (must be a multiple of ``timeframe_ms``).

    With ``now_ms``, candles opening after it are dropped and the candle containing it is
    still open: close = p(now), high/low from open/close only, volume pro rata so far.
    """
    if timeframe_ms <= 0 or start_open_ms % timeframe_ms:
        raise ValueError("start_open_ms must be a multiple of a positive timeframe_ms")
    if now_ms is not None:
        count = min(count, max(0, (now_ms - start_open_ms) // timeframe_ms + 1))
    if count <= 0:
        return Candles.empty(timeframe_ms)
    s = universe.get(symbol)
    t = start_open_ms + timeframe_ms * np.arange(count + 1, dtype=np.int64)
    is_open = now_ms is not None and int(t[-1]) > now_ms
    if is_open and now_ms is not None:
        t[-1] = now_ms
    logp = _log_price(s, t)
    opens_t = t[:-1]
    ret = np.abs(np.diff(logp))
    wick = 0.0012 * s.vol * math.sqrt(timeframe_ms / _CANDLE_MS)
    n = opens_t // timeframe_ms
    h = _hash_units(s.key, (30, 31, 32), np.stack([n, n, n]))
    up, down = np.minimum(wick * -np.log1p(-h[0]), 0.08), np.minimum(wick * -np.log1p(-h[1]), 0.08)
    o, c = logp[:-1], logp[1:]
    hi, lo = np.maximum(o, c) + up, np.minimum(o, c) - down
    if is_open:  # the still-open candle has seen only its open and its current price
        hi[-1], lo[-1] = max(o[-1], c[-1]), min(o[-1], c[-1])
    ohlc = np.round(np.exp(np.stack([o, hi, lo, c])), s.price_decimals)
    # quote volume ~ daily/timeframe share x lognormal-ish noise, larger on big moves
    scale = np.exp(1.1 * (h[2] - 0.5)) / 1.05 * (0.5 + 0.5 * ret / (0.002 * s.vol))
    quote = s.daily_quote_volume * timeframe_ms / _DAY_MS * np.minimum(scale, 8.0)
    if is_open and now_ms is not None:
        quote[-1] *= (now_ms - int(opens_t[-1])) / timeframe_ms
    volume = np.round(quote / ohlc[3], s.qty_decimals)
    return Candles(opens_t.copy(), ohlc[0], ohlc[1], ohlc[2], ohlc[3], volume, timeframe_ms)


@dataclass(frozen=True, slots=True)
class SimTicker:
    """Rolling 24h statistics, computed from the 15m candles overlapping the window."""

    symbol: str
    last: float
    open: float
    high: float
    low: float
    volume: float  # base asset
    quote_volume: float  # USDT
    open_time_ms: int
    close_time_ms: int


def sim_ticker_24h(universe: SimUniverse, symbol: str, now_ms: int,
                   venue: str = DEFAULT_VENUE) -> SimTicker:  # fmt: skip
    v, start = venue_terms(universe, venue, symbol), (now_ms - _DAY_MS) // _CANDLE_MS * _CANDLE_MS
    f, share = v.price_factor, v.volume_share
    c = sim_candles(universe, symbol, timeframe_ms=_CANDLE_MS, start_open_ms=start, count=98,
                    now_ms=now_ms)  # fmt: skip
    first = sim_last_price(universe, symbol, now_ms - _DAY_MS, venue)
    high, low = max(float(c.high.max()) * f, first), min(float(c.low.min()) * f, first)
    quote = float((c.volume * (c.open + c.high + c.low + c.close) / 4.0).sum()) * f * share
    vol, last = float(c.volume.sum()) * share, float(c.close[-1]) * f
    return SimTicker(symbol, last, first, high, low, vol, quote, now_ms - _DAY_MS, now_ms)


def sim_funding_rate(universe: SimUniverse, symbol: str, period: int,
                     venue: str = DEFAULT_VENUE) -> float:  # fmt: skip
    """The funding rate of funding period ``period`` (settled at its end) on ``venue``."""
    s, streams = universe.get(symbol), venue_terms(universe, venue, symbol).rate_streams
    u, v = _hash_units(s.key, streams, np.full((2, 1), period, np.int64))[:, 0]
    if u < 0.5:
        return 0.0001  # the default rate while the premium stays small
    # otherwise near the default (30%), negative (12%) or high (8%); always in [-0.0005, 0.001]
    lo, hi = (5e-5, 1.5e-4) if u < 0.8 else (-4.7e-4, -2e-5) if u < 0.92 else (2e-4, 1e-3)
    return round(lo + (hi - lo) * float(v), 8)


def sim_funding(universe: SimUniverse, symbol: str, now_ms: int,
                venue: str = DEFAULT_VENUE) -> FundingRate:  # fmt: skip
    """Funding state at ``now_ms`` on ``venue``: the current period's rate and settlement."""
    s, v = universe.get(symbol), venue_terms(universe, venue, symbol)
    period = now_ms // (interval_ms := v.interval_h * _HOUR_MS)
    mark, minute = _price(s, now_ms) * v.price_factor, np.array([[now_ms // 60_000]])
    basis = (float(_hash_units(s.key, (v.index_stream,), minute)[0, 0]) - 0.35) * 8e-4
    return FundingRate(
        symbol=symbol, exchange=EXCHANGE, funding_interval_h=v.interval_h,
        funding_rate=sim_funding_rate(universe, symbol, period, venue),
        next_funding_time_ms=(period + 1) * interval_ms, mark_price=round(mark, 8),
        index_price=round(mark * (1.0 - basis), 8), timestamp_ms=now_ms,
    )  # fmt: skip
