"""Bybit v5 public market-data emulator over the simulator's ``bybit`` venue.

Mirrors the endpoints ccxt's ``bybit`` needs for markets, tickers and funding, as
documented at https://bybit-exchange.github.io/docs/v5/market/time,
https://bybit-exchange.github.io/docs/v5/market/instrument and
https://bybit-exchange.github.io/docs/v5/market/tickers: the v5 envelope
``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo": {}, "time": <ms>}``, every
value a string except ``fundingInterval`` (minutes), booleans and the envelope's ``time``.
Errors keep HTTP 200 and carry the code in ``retCode`` (10001: bad parameter).

Category ``linear`` lists the USDT perpetuals of the ``bybit`` venue plus, so clients must
filter as on the real exchange, a USDT quarterly (``LinearFutures``), a USDC perpetual and,
only when asked with ``status=PreLaunch`` (Bybit lists ``Trading`` ones by default), a
pre-launch perpetual. ``spot``, ``inverse`` and ``option`` are answered well-formed and empty.
Linear tickers carry ``fundingIntervalHour`` and ``fundingCap`` as Bybit's do since 2025.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from perpwatch.emulator.wire import Params, fmt, quarter_delivery_ms
from perpwatch.market.sim.model import (
    SimUniverse,
    sim_funding,
    sim_last_price,
    sim_ticker_24h,
    venue_symbols,
)
from perpwatch.market.sim.venues import venue_terms

logger = logging.getLogger(__name__)

VENUE = "bybit"
CATEGORIES = ("spot", "linear", "inverse", "option")
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
Handler = Callable[[Params, int], dict[str, Any]]


class BybitError(Exception):
    """A v5 error answer, e.g. ``retCode 10001 Illegal category``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def rate_str(x: float) -> str:
    """A funding rate as Bybit writes it: up to 8 decimals, no trailing zeros."""
    return f"{x:.8f}".rstrip("0").rstrip(".") or "0"


def _instrument(
    symbol: str, base: str, quote: str, contract: str, status: str, launch_ms: int,
    delivery_ms: int, price_decimals: int, qty_decimals: int, interval_h: int,
) -> dict[str, Any]:  # fmt: skip
    """One ``instruments-info`` entry of category linear."""
    tick, step = fmt(10.0**-price_decimals, price_decimals), fmt(10.0**-qty_decimals, qty_decimals)
    perpetual = contract.endswith("Perpetual")
    pre = status == "PreLaunch"
    return {
        "symbol": symbol, "contractType": contract, "status": status, "baseCoin": base,
        "quoteCoin": quote, "launchTime": str(launch_ms), "deliveryTime": str(delivery_ms),
        "deliveryFeeRate": "" if perpetual else "0.0005", "priceScale": str(price_decimals),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "50.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": tick, "maxPrice": fmt(2e6 if price_decimals < 3 else 2e4,
                                                          price_decimals), "tickSize": tick},
        "lotSizeFilter": {"maxOrderQty": fmt(1e6, qty_decimals), "minOrderQty": step,
                          "qtyStep": step, "postOnlyMaxOrderQty": fmt(1e7, qty_decimals),
                          "maxMktOrderQty": fmt(1e5, qty_decimals), "minNotionalValue": "5"},
        "unifiedMarginTrade": True, "fundingInterval": interval_h * 60 if perpetual else 0,
        "settleCoin": quote, "copyTrading": "none" if pre else "both",
        "upperFundingRate": "0.005" if perpetual else "",
        "lowerFundingRate": "-0.005" if perpetual else "",
        "isPreListing": pre,
        "preListingInfo": {"curAuctionPhase": "CallAuction", "phases": [
            {"phase": "CallAuction", "startTime": str(launch_ms - _DAY_MS),
             "endTime": str(launch_ms)}],
            "auctionFeeInfo": {"auctionFeeRate": "0", "takerFeeRate": "0.001",
                               "makerFeeRate": "0.0004"}} if pre else None,
        "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"},
        "displayName": "",
    }  # fmt: skip


class BybitEmulator:
    """Endpoint handlers ``handler(params, now_ms) -> result``, wrapped in the v5 envelope."""

    def __init__(self, universe: SimUniverse) -> None:
        self.universe = universe
        self.symbols = venue_symbols(universe, VENUE)
        self._listed = frozenset(self.symbols)
        btc = universe.get("BTCUSDT")
        self._btc_decimals = (btc.price_decimals, btc.qty_decimals)
        self.handlers: dict[str, Handler] = {
            "/v5/market/time": self.time,
            "/v5/market/instruments-info": self.instruments_info,
            "/v5/market/tickers": self.tickers,
        }

    # --- which contract serves which data -----------------------------------------------

    def _aliases(self, now_ms: int) -> dict[str, tuple[float, float, int]]:
        """Trading linear contracts that are not USDT perpetuals -> (price factor, volume
        factor, delivery time or 0) on BTCUSDT."""
        delivery = quarter_delivery_ms(now_ms)
        d = datetime.fromtimestamp(delivery / 1000, UTC)
        day = f"{d.day:02d}{_MONTHS[d.month - 1]}{d.year % 100:02d}"  # 26DEC25, any locale
        return {f"BTCUSDT-{day}": (1.012, 0.02, delivery), "BTCPERP": (0.9998, 0.08, 0)}

    def _source(self, name: str, now_ms: int) -> tuple[str, float, float, int]:
        if name in self._listed:
            return name, 1.0, 1.0, 0
        if name in (aliases := self._aliases(now_ms)):
            return ("BTCUSDT", *aliases[name])
        raise BybitError(10001, "Not supported symbols")

    def _decimals(self, name: str) -> tuple[int, int]:
        if name in self._listed:
            s = self.universe.get(name)
            return s.price_decimals, s.qty_decimals
        return self._btc_decimals

    def _category(self, params: Params) -> str:
        category = params.get("category", "")
        if category not in CATEGORIES:
            raise BybitError(10001, "Illegal category")
        return category

    # --- endpoints -----------------------------------------------------------------------

    def time(self, params: Params, now_ms: int) -> dict[str, Any]:
        return {"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)}

    def _linear_instruments(self, now_ms: int) -> list[dict[str, Any]]:
        out = []
        for name in self.symbols:
            s, terms = self.universe.get(name), venue_terms(self.universe, VENUE, name)
            launch = 1_585_526_400_000 + int(s.shape[0] * 1500) * _DAY_MS
            out.append(_instrument(name, s.base, "USDT", "LinearPerpetual", "Trading", launch, 0,
                                   s.price_decimals, s.qty_decimals, terms.interval_h))  # fmt: skip
        pd, qd = self._btc_decimals
        (quarterly, (_, _, delivery)), (usdc, _) = self._aliases(now_ms).items()
        tomorrow = now_ms // _DAY_MS * _DAY_MS + _DAY_MS
        return [
            *out,
            _instrument(quarterly, "BTC", "USDT", "LinearFutures", "Trading",
                        delivery - 90 * _DAY_MS, delivery, pd, qd, 0),
            _instrument(usdc, "BTC", "USDC", "LinearPerpetual", "Trading", 1_672_531_200_000,
                        0, pd, qd, 8),
            _instrument("PUMPUSDT", "PUMP", "USDT", "LinearPerpetual", "PreLaunch", tomorrow,
                        0, 6, 0, 4),
        ]  # fmt: skip

    def instruments_info(self, params: Params, now_ms: int) -> dict[str, Any]:
        """Linear instruments with ``status`` (default ``Trading``), optionally one
        ``symbol``, paged by ``limit`` (1-1000, default 500) and an opaque ``cursor``."""
        category = self._category(params)
        raw_limit, raw_cursor = params.get("limit", "500"), params.get("cursor") or "0"
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1000:
            raise BybitError(10001, "params error: limit must be in [1, 1000]")
        if not raw_cursor.isdigit():
            raise BybitError(10001, "params error: cursor invalid")
        items: list[dict[str, Any]] = []
        if category == "linear":
            status, symbol = params.get("status") or "Trading", params.get("symbol")
            items = [
                i
                for i in self._linear_instruments(now_ms)
                if i["status"] == status and symbol in (None, i["symbol"])
            ]
        start, limit = int(raw_cursor), int(raw_limit)
        more = start + limit < len(items)
        return {"category": category, "list": items[start : start + limit],
                "nextPageCursor": str(start + limit) if more else ""}  # fmt: skip

    def tickers(self, params: Params, now_ms: int) -> dict[str, Any]:
        category, symbol = self._category(params), params.get("symbol")
        if category != "linear":
            if symbol:
                raise BybitError(10001, "Not supported symbols")
            return {"category": category, "list": []}
        names = [symbol] if symbol else [*self.symbols, *self._aliases(now_ms)]
        return {"category": "linear", "list": [self._ticker(n, now_ms) for n in names]}

    def _ticker(self, name: str, now_ms: int) -> dict[str, Any]:
        src, pf, vf, delivery = self._source(name, now_ms)
        pd, qd = self._decimals(name)
        t = sim_ticker_24h(self.universe, src, now_ms, VENUE)
        f = sim_funding(self.universe, src, now_ms, VENUE)
        last, mark, index = t.last * pf, f.mark_price * pf, f.index_price
        prev_1h = sim_last_price(self.universe, src, now_ms - _HOUR_MS, VENUE) * pf
        oi = t.volume * vf * 0.35
        size = fmt(10.0**-qd * (1 + now_ms % 89), qd)
        out = {
            "symbol": name, "lastPrice": fmt(last, pd), "indexPrice": fmt(index, pd),
            "markPrice": fmt(mark, pd), "prevPrice24h": fmt(t.open * pf, pd),
            "price24hPcnt": f"{t.last / t.open - 1:.6f}", "highPrice24h": fmt(t.high * pf, pd),
            "lowPrice24h": fmt(t.low * pf, pd), "prevPrice1h": fmt(prev_1h, pd),
            "openInterest": fmt(oi, qd), "openInterestValue": fmt(oi * mark, 2),
            "turnover24h": fmt(t.quote_volume * vf * pf, 4), "volume24h": fmt(t.volume * vf, qd),
            "fundingRate": rate_str(f.funding_rate), "nextFundingTime":
                str(f.next_funding_time_ms), "predictedDeliveryPrice": "", "basisRate": "",
            "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": size,
            "bid1Price": fmt(last, pd), "ask1Price": fmt(last + 10.0**-pd, pd), "bid1Size": size,
            "basis": "", "preOpenPrice": "", "preQty": "", "curPreListingPhase": "",
            "fundingIntervalHour": str(f.funding_interval_h), "basisRateYear": "",
            "fundingCap": "0.005",
        }  # fmt: skip
        if delivery:  # a dated future: no funding, a basis and a delivery instead
            basis = last - index
            out |= {"fundingRate": "", "nextFundingTime": "0", "fundingIntervalHour": "",
                    "fundingCap": "", "basis": fmt(basis, pd), "basisRate": f"{basis / index:.8f}",
                    "deliveryFeeRate": "0.0005", "deliveryTime": str(delivery)}  # fmt: skip
        return out
