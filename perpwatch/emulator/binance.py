"""Binance USD-M futures REST market-data emulator over the deterministic simulator.

Mirrors the public ``/fapi`` endpoints that perpwatch and ccxt's ``binanceusdm`` use, with
Binance's field names and types, its error format (``{"code": -1121, "msg": "Invalid
symbol."}``), its request weights and the ``X-MBX-USED-WEIGHT-1M`` header. Besides the
simulated USDT perpetuals, exchangeInfo lists a current-quarter delivery contract and a
USDC-margined perpetual (both priced off BTCUSDT) and two non-trading contracts, so clients
must filter as they would on the real exchange. Every answer is a deterministic function of
the query and the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from perpwatch.emulator.bodycache import SecondCache, render_json
from perpwatch.emulator.weights import EmulatorStats, request_weight
from perpwatch.emulator.wire import (
    ASSETS,
    PERPETUAL_DELIVERY_MS,
    RATE_LIMITS,
    BinanceError,
    Params,
    fmt,
    invalid_symbol,
    kline_rows,
    limit_param,
    premium_index_entry,
    quarter_delivery_ms,
    symbol_info,
    symbol_param,
    ticker_24hr_entry,
    time_range,
)
from perpwatch.errors import UnknownSymbol
from perpwatch.market.sim.model import (
    SimUniverse,
    sim_candles,
    sim_funding,
    sim_funding_rate,
    sim_last_price,
    sim_ticker_24h,
)
from perpwatch.market.types import Candles
from perpwatch.types import TIMEFRAME_MS

logger = logging.getLogger(__name__)

_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
# all-symbols answers served from the per-second cache (not exchangeInfo: its serverTime
# tells clients the exchange's clock)
_ALL_SYMBOLS = frozenset(
    {"/fapi/v1/ticker/24hr", "/fapi/v1/ticker/price", "/fapi/v2/ticker/price",
     "/fapi/v1/premiumIndex", "/fapi/v1/fundingInfo", "/fapi/v1/fundingRate"}
)  # fmt: skip
Handler = Callable[[Params, int], Any]


class BinanceEmulator:
    """Stats and endpoint handlers: ``handler(params, now_ms) -> JSON body``.

    ``rate_limits`` gives exchangeInfo's ``rateLimits`` (the limits being enforced).
    """

    def __init__(
        self, universe: SimUniverse, rate_limits: Callable[[], list[dict[str, Any]]] | None = None
    ) -> None:
        self.universe = universe
        self.stats = EmulatorStats()
        self.rate_limits = rate_limits or (lambda: RATE_LIMITS)
        self._infos = [
            symbol_info(s.symbol, s.base, "USDT", "PERPETUAL", "TRADING", PERPETUAL_DELIVERY_MS,
                        1_569_398_400_000 + int(s.shape[0] * 1850) * _DAY_MS,
                        s.price_decimals, s.qty_decimals)
            for s in universe
        ]  # fmt: skip
        btc = universe.get("BTCUSDT")
        self._btc_decimals = (btc.price_decimals, btc.qty_decimals)
        self.handlers: dict[str, Handler] = {
            "/fapi/v1/ping": lambda p, now: {},
            "/fapi/v1/time": lambda p, now: {"serverTime": now},
            "/fapi/v1/exchangeInfo": self.exchange_info,
            "/fapi/v1/ticker/24hr": self.ticker_24hr,
            "/fapi/v1/ticker/price": self.ticker_price,
            "/fapi/v2/ticker/price": self.ticker_price,
            "/fapi/v1/klines": self.klines,
            "/fapi/v1/premiumIndex": self.premium_index,
            "/fapi/v1/fundingInfo": self.funding_info,
            "/fapi/v1/fundingRate": self.funding_rate,
        }

    # --- which contract serves which data -----------------------------------------------

    def _aliases(self, now_ms: int) -> dict[str, tuple[float, float]]:
        """Trading contracts that are not USDT perpetuals -> (price, volume) factor on BTC."""
        quarter = datetime.fromtimestamp(quarter_delivery_ms(now_ms) / 1000, UTC)
        return {"BTCUSDC": (0.9998, 0.08), f"BTCUSDT_{quarter:%y%m%d}": (1.012, 0.02)}

    def _source(self, symbol: str, now_ms: int) -> tuple[str, float, float]:
        """(simulated symbol, price factor, volume factor) behind ``symbol``, or -1121."""
        if symbol in self.universe:
            return symbol, 1.0, 1.0
        if symbol in (aliases := self._aliases(now_ms)):
            return ("BTCUSDT", *aliases[symbol])
        raise invalid_symbol()

    def _decimals(self, symbol: str) -> tuple[int, int]:
        if symbol in self.universe:
            s = self.universe.get(symbol)
            return s.price_decimals, s.qty_decimals
        return self._btc_decimals

    def _trading(self, symbol: str | None, now_ms: int) -> list[str]:
        """``[symbol]`` after checking it trades, or every trading contract."""
        if symbol is not None:
            self._source(symbol, now_ms)
            return [symbol]
        return [s.symbol for s in self.universe] + list(self._aliases(now_ms))

    def _candles(self, symbol: str, tf: int, start: int, count: int, now_ms: int) -> Candles:
        src, pf, vf = self._source(symbol, now_ms)
        c = sim_candles(
            self.universe, src, timeframe_ms=tf, start_open_ms=start, count=count, now_ms=now_ms
        )
        if pf == 1.0 and vf == 1.0:
            return c
        return replace(c, open=c.open * pf, high=c.high * pf, low=c.low * pf, close=c.close * pf,
                       volume=c.volume * vf)  # fmt: skip

    # --- endpoints -----------------------------------------------------------------------

    def exchange_info(self, params: Params, now_ms: int) -> dict[str, Any]:
        pd, qd = self._btc_decimals
        delivery = quarter_delivery_ms(now_ms)
        quarter = next(s for s in self._aliases(now_ms) if "_" in s)
        tomorrow = now_ms // _DAY_MS * _DAY_MS + _DAY_MS
        extras = [
            symbol_info(quarter, "BTC", "USDT", "CURRENT_QUARTER", "TRADING", delivery,
                        delivery - 90 * _DAY_MS, pd, qd),
            symbol_info("BTCUSDC", "BTC", "USDC", "PERPETUAL", "TRADING", PERPETUAL_DELIVERY_MS,
                        1_706_659_200_000, pd, qd),
            symbol_info("FTTUSDT", "FTT", "USDT", "PERPETUAL", "SETTLING", PERPETUAL_DELIVERY_MS,
                        1_612_137_600_000, 4, 1),
            symbol_info("PUMPUSDT", "PUMP", "USDT", "PERPETUAL", "PENDING_TRADING",
                        PERPETUAL_DELIVERY_MS, tomorrow, 6, 0),
        ]  # fmt: skip
        return {"timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
                "rateLimits": self.rate_limits(), "exchangeFilters": [], "assets": ASSETS,
                "symbols": self._infos + extras}  # fmt: skip

    def ticker_24hr(self, params: Params, now_ms: int) -> Any:
        symbol = symbol_param(params, required=False)
        out = []
        for name in self._trading(symbol, now_ms):
            src, pf, vf = self._source(name, now_ms)
            t = sim_ticker_24h(self.universe, src, now_ms)
            t = replace(t, symbol=name, last=t.last * pf, open=t.open * pf, high=t.high * pf,
                        low=t.low * pf, volume=t.volume * vf,
                        quote_volume=t.quote_volume * vf * pf)  # fmt: skip
            out.append(ticker_24hr_entry(t, *self._decimals(name)))
        return out[0] if symbol else out

    def ticker_price(self, params: Params, now_ms: int) -> Any:
        symbol = symbol_param(params, required=False)
        out = []
        for name in self._trading(symbol, now_ms):
            src, pf, _ = self._source(name, now_ms)
            price = fmt(sim_last_price(self.universe, src, now_ms) * pf, self._decimals(name)[0])
            out.append({"symbol": name, "price": price, "time": now_ms})
        return out[0] if symbol else out

    def klines(self, params: Params, now_ms: int) -> list[list[Any]]:
        """Candles with openTime in [startTime, endTime] (capped at now): the first ``limit``
        from startTime, else the last ``limit``; the current candle is still open."""
        symbol = symbol_param(params, required=True)
        interval = params.get("interval")
        if not interval:
            msg = "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            raise BinanceError(-1102, msg)
        if interval not in TIMEFRAME_MS:
            raise BinanceError(-1120, "Invalid interval.")
        tf = TIMEFRAME_MS[interval]
        limit = limit_param(params, default=500, maximum=1500)
        start, end = time_range(params)
        assert symbol is not None
        last_open = min(now_ms, now_ms if end is None else end) // tf * tf
        first_open = last_open - (limit - 1) * tf if start is None else -(-start // tf) * tf
        count = min(limit, (last_open - first_open) // tf + 1)
        c = self._candles(symbol, tf, first_open, count, now_ms)  # checks the symbol first
        return kline_rows(c, *self._decimals(symbol)) if count > 0 else []

    def premium_index(self, params: Params, now_ms: int) -> Any:
        symbol = symbol_param(params, required=False)
        out = []
        for name in self._trading(symbol, now_ms):
            src, pf, _ = self._source(name, now_ms)
            f = sim_funding(self.universe, src, now_ms)
            f = replace(
                f, symbol=name, mark_price=f.mark_price * pf, index_price=f.index_price * pf
            )
            out.append(premium_index_entry(f, perpetual="_" not in name))
        return out[0] if symbol else out

    def funding_info(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """Like Binance: only the contracts whose funding interval is not the default 8h."""
        return [
            {"symbol": s.symbol, "adjustedFundingRateCap": "0.02000000",
             "adjustedFundingRateFloor": "-0.02000000",
             "fundingIntervalHours": s.funding_interval_h, "disclaimer": False}
            for s in self.universe
            if s.funding_interval_h != 8
        ]  # fmt: skip

    def funding_rate(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """Settled funding rates (USDT perpetuals); without a symbol, the last 8 hours of all."""
        symbol = symbol_param(params, required=False)
        limit = limit_param(params, default=100, maximum=1000)
        start, end = time_range(params)
        end = min(now_ms, now_ms if end is None else end)
        if symbol is not None and symbol not in self.universe:
            raise invalid_symbol()
        out: list[dict[str, Any]] = []
        for s in self.universe if symbol is None else [self.universe.get(symbol)]:
            iv = s.funding_interval_h * _HOUR_MS
            span = 8 * _HOUR_MS if symbol is None else limit * iv
            first, last = -(-(end - span if start is None else start) // iv), end // iv
            last = last if start is None else min(last, first + limit - 1)
            if last < first:
                continue
            # settlement k happens at k * iv, at mark p(k * iv), paying period k - 1's rate
            marks = sim_candles(self.universe, s.symbol, timeframe_ms=iv, start_open_ms=first * iv,
                                count=last - first + 1).open  # fmt: skip
            out += [
                {"symbol": s.symbol, "fundingTime": k * iv,
                 "fundingRate": fmt(sim_funding_rate(self.universe, s.symbol, k - 1), 8),
                 "markPrice": fmt(float(marks[k - first]), 8)}
                for k in range(first, last + 1)
            ]  # fmt: skip
        out.sort(key=lambda r: (r["fundingTime"], r["symbol"]))
        return out[:limit] if start is not None else out[-limit:]


def binance_routes(
    emu: BinanceEmulator, cache: SecondCache, clock: Callable[[], float]
) -> list[Route]:
    """Starlette routes of the ``/fapi`` endpoints. Limits, faults and latency are applied
    in front of these (:mod:`perpwatch.emulator.front`); all-symbols answers come
    from ``cache`` within the same second."""

    async def endpoint(request: Request) -> Response:
        path, params, now_s = request.url.path, request.query_params, clock()
        emu.stats.record(path, request_weight(path, params), params)
        handler, now_ms = emu.handlers[path], int(now_s * 1000)
        try:
            if path in _ALL_SYMBOLS and SecondCache.cacheable(params):
                render = lambda: render_json(handler(params, now_ms))  # noqa: E731
                body = cache.get_or_render(path, str(params), now_s, render)
                return Response(body, media_type="application/json")
            return JSONResponse(handler(params, now_ms))
        except UnknownSymbol:
            return JSONResponse(invalid_symbol().body(), 400)
        except BinanceError as e:
            return JSONResponse(e.body(), e.status)

    return [Route(path, endpoint, methods=["GET"]) for path in emu.handlers]
