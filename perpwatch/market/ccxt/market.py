"""Live exchanges through ``ccxt.async_support``: the adapter at the exchange edge.

One client per exchange for the process; markets loaded once and refreshed rarely;
every ccxt error converted into perpwatch's own types here and nowhere else.

Rate limits, in three layers: ccxt's own limiter in its rolling-window mode (a one-minute
window of request weight, as Binance counts it; ccxt budgets half of Binance's published
2400/min for this process); :class:`~perpwatch.market.ccxt.weight_budget.WeightBudget`, which
reads the exchange's count of the whole IP's usage (``X-MBX-USED-WEIGHT-1M``, other
processes included) and holds requests back before the published limit is reached; and
:class:`~perpwatch.market.ccxt.retry.ExchangeGate`, which stops all of this exchange's traffic
for the ``Retry-After`` of a 429/418 answer, resumes by itself, and stops sending while
the exchange looks down (the breaker). HTTP hooks: :mod:`perpwatch.market.ccxt.client`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import ccxt

from perpwatch.errors import (
    ExchangeError,
    PermanentExchangeError,
    RateLimited,
    TemporaryExchangeError,
    UnknownSymbol,
)
from perpwatch.market.ccxt.client import client_class
from perpwatch.market.ccxt.retry import ExchangeGate, call_with_retries
from perpwatch.market.ccxt.weight_budget import WeightBudget
from perpwatch.market.exchanges import facts_for
from perpwatch.market.types import Candles, Contract, ExchangeState, FundingRate
from perpwatch.symbols import canonical_from_parts
from perpwatch.types import timeframe_ms

logger = logging.getLogger(__name__)

T = TypeVar("T")

MARKETS_MAX_AGE_S = 6 * 3600.0
_HOST = re.compile(r"^https?://[^/]+")
_TAG = re.compile(r"<[^>]{0,200}>")


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Replace the scheme and host of every REST URL, keeping the paths."""
    if isinstance(urls, str):
        return _HOST.sub(base_url.rstrip("/"), urls)
    if isinstance(urls, dict):
        return {k: rewrite_api_urls(v, base_url) for k, v in urls.items()}
    return urls


def _short(e: BaseException, limit: int = 240) -> str:
    """An error's text on one line, without markup, cut (ccxt quotes whole error pages)."""
    text = " ".join(_TAG.sub(" ", str(e)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def convert_ccxt_error(e: Exception, what: str) -> ExchangeError:
    """Map a ccxt exception to perpwatch's hierarchy (order matters: subclasses first)."""
    if isinstance(e, ccxt.DDoSProtection):  # includes RateLimitExceeded
        return RateLimited(f"{what}: rate limited ({_short(e)})")
    if isinstance(e, ccxt.BadSymbol):
        return PermanentExchangeError(f"{what}: bad symbol ({_short(e)})")
    if isinstance(e, ccxt.NetworkError | ccxt.OperationFailed):
        # NetworkError covers timeouts and ExchangeNotAvailable/OnMaintenance; a Binance
        # 503 (-1001) comes back as OperationFailed, which is temporary too.
        return TemporaryExchangeError(f"{what}: {type(e).__name__}: {_short(e)}")
    if isinstance(e.__cause__, aiohttp.ClientError | OSError):
        # ccxt raises a plain ExchangeError for aiohttp errors other than connection
        # errors, e.g. a connection dropped half-way through the body (ClientPayloadError)
        cause = e.__cause__
        return TemporaryExchangeError(
            f"{what}: network error: {type(cause).__name__}: {_short(cause)}"
        )
    return PermanentExchangeError(f"{what}: {type(e).__name__}: {_short(e)}")


def checked_candles(what: str, rows: Any, tf_ms: int) -> Candles:
    """Candles from ccxt's OHLCV rows, or TemporaryExchangeError for the whole answer: a row
    ccxt could not parse (a missing or non-numeric field: ccxt makes it None) is never
    dropped or filled in, and the rows must be consecutive candles (none missing)."""
    if not isinstance(rows, list):
        raise TemporaryExchangeError(f"{what}: malformed answer ({type(rows).__name__})")
    for i, r in enumerate(rows):
        ok = isinstance(r, list) and len(r) >= 6
        if not (ok and all(isinstance(v, int | float) and math.isfinite(v) for v in r[:6])):
            raise TemporaryExchangeError(f"{what}: malformed row {i} of {len(rows)}: {r!r:.80}")
    candles = Candles.from_rows(rows, tf_ms)
    if not candles.is_contiguous():
        raise TemporaryExchangeError(f"{what}: answer not contiguous (a candle is missing)")
    return candles


class CcxtMarket:
    """:class:`~perpwatch.market.base.MarketData` for a live ccxt exchange."""

    def __init__(
        self,
        exchange_id: str,
        *,
        api_url: str | None = None,
        timeout_s: float = 10.0,
        retries: int = 3,
        weight_limit: int | None = None,
        weight_headroom: float = 0.1,
        breaker_failures: int = 30,
        breaker_probe_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._id = exchange_id
        self._clock = clock
        self._retries = retries
        self.gate = ExchangeGate(
            name=exchange_id, breaker_failures=breaker_failures, breaker_probe_s=breaker_probe_s
        )
        facts = facts_for(exchange_id)
        published = None if facts is None else facts.weight_header_limit
        self.budget: WeightBudget | None = (
            None
            if published is None
            else WeightBudget(
                exchange_id, limit=weight_limit, default_limit=published, headroom=weight_headroom
            )
        )
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "rateLimiterAlgorithm": "rollingWindow",
            "rollingWindowSize": 60_000,
            "timeout": int(timeout_s * 1000),
            "options": {"defaultType": "swap", **(facts.client_options if facts else {})},
        }
        self._client: Any = client_class(exchange_id)(config)
        self._client.perpwatch_gate = self.gate
        self._client.perpwatch_budget = self.budget
        if api_url:
            self._client.urls["api"] = rewrite_api_urls(self._client.urls["api"], api_url)
        self._markets_loaded_at: float | None = None
        self._markets_lock = asyncio.Lock()
        self._contracts: dict[str, Contract] = {}

    @property
    def name(self) -> str:
        return self._id

    @property
    def client(self) -> Any:
        """The underlying ccxt client (for adapters built on this one)."""
        return self._client

    async def _request(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        async def converted() -> T:
            try:
                return await call()
            except ExchangeError:
                raise
            except ccxt.BaseError as e:
                raise convert_ccxt_error(e, what) from e

        return await call_with_retries(what, converted, retries=self._retries, gate=self.gate)

    async def _ensure_markets(self) -> None:
        now = self._clock()
        loaded = self._markets_loaded_at
        if loaded is not None and now - loaded < MARKETS_MAX_AGE_S:
            return
        async with self._markets_lock:
            if (
                self._markets_loaded_at is not None
                and now - self._markets_loaded_at < MARKETS_MAX_AGE_S
            ):
                return
            reload = self._markets_loaded_at is not None
            await self._request(
                f"{self._id} load_markets", lambda: self._client.load_markets(reload)
            )
            self._contracts = self._usdt_perpetuals(self._client.markets)
            self._markets_loaded_at = self._clock()
            logger.info("%s: %d USDT perpetuals listed", self._id, len(self._contracts))

    def _usdt_perpetuals(self, markets: dict[str, Any]) -> dict[str, Contract]:
        out: dict[str, Contract] = {}
        for m in markets.values():
            if not (m.get("swap") and m.get("linear") and m.get("active") is not False):
                continue
            if m.get("settle") != "USDT" or m.get("quote") != "USDT":
                continue
            info = m.get("info") or {}
            status = info.get("status")
            if status is not None and status not in ("TRADING", "Trading", "live"):
                continue
            if info.get("contractType") not in (None, "PERPETUAL", "LinearPerpetual"):
                continue
            symbol = canonical_from_parts(m["base"], m["quote"])
            out[symbol] = Contract(
                symbol=symbol,
                exchange=self._id,
                ccxt_symbol=m["symbol"],
                base=m["base"],
                quote=m["quote"],
                quote_volume_24h=0.0,
            )
        return out

    async def contracts(self) -> dict[str, Contract]:
        """The listed USDT perpetuals by canonical symbol (no volumes: see list_perpetuals)."""
        await self._ensure_markets()
        return dict(self._contracts)

    async def fetch_funding_rates(self) -> list[FundingRate]:
        """Funding rate, interval, next funding time, mark and index price of every listed
        USDT perpetual, from the exchange's all-symbol endpoints (perpwatch.market.exchanges);
        contracts the exchange gave incomplete data for are left out (and logged)."""
        facts = facts_for(self._id)
        if facts is None:
            raise PermanentExchangeError(f"{self._id}: no funding adapter for this exchange")
        contracts = await self.contracts()
        return await self._request(
            f"{self._id} funding rates", lambda: facts.fetch_funding(self._client, contracts)
        )

    async def listed_symbols(self) -> set[str]:
        return set(await self.contracts())

    async def server_time_ms(self) -> int:
        value = await self._request(f"{self._id} server time", lambda: self._client.fetch_time())
        if not isinstance(value, int):
            raise TemporaryExchangeError(f"{self._id}: server time unreadable ({value!r})")
        return value

    async def contract(self, symbol: str) -> Contract:
        await self._ensure_markets()
        try:
            return self._contracts[symbol]
        except KeyError:
            raise UnknownSymbol(symbol) from None

    async def list_perpetuals(self) -> list[Contract]:
        await self._ensure_markets()
        tickers: dict[str, Any] = await self._request(
            f"{self._id} tickers", lambda: self._client.fetch_tickers()
        )
        ranked: list[Contract] = []
        for c in self._contracts.values():
            t = tickers.get(c.ccxt_symbol) or {}
            qv = t.get("quoteVolume")
            volume = float(qv) if isinstance(qv, int | float) else 0.0
            ranked.append(Contract(c.symbol, c.exchange, c.ccxt_symbol, c.base, c.quote, volume))
        ranked.sort(key=lambda c: (-c.quote_volume_24h, c.symbol))
        return ranked

    async def fetch_candles(
        self, symbol: str, *, timeframe: str, since_ms: int | None, limit: int
    ) -> Candles:
        contract = await self.contract(symbol)
        tf_ms = timeframe_ms(timeframe)
        what = f"{self._id} klines {symbol}"

        async def fetch() -> Candles:  # checked inside the retries: a bad answer is retried
            rows = await self._client.fetch_ohlcv(
                contract.ccxt_symbol, timeframe, since=since_ms, limit=limit
            )
            return checked_candles(what, rows, tf_ms)

        return await self._request(what, fetch)

    def stats(self) -> dict[str, Any]:
        """Gate (pauses, retries, breaker) and weight budget figures."""
        budget = None if self.budget is None else self.budget.as_json()
        return {"gate": self.gate.as_json(), "budget": budget}

    def exchange_state(self) -> ExchangeState:
        budget = self.budget
        return ExchangeState(
            name=self._id,
            breaker_open=self.gate.breaker_open,
            weight_used=None if budget is None else budget.used_now(),
            weight_limit=None if budget is None else budget.limit,
            rate_limited=self.gate.rate_limited,
        )

    async def close(self) -> None:
        try:
            await self._client.close()
        except Exception:  # closing must never fail shutdown
            logger.debug("closing %s client failed", self._id, exc_info=True)
