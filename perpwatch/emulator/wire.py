"""Binance USD-M REST wire formats: errors, parameter checks, exchangeInfo entries, klines rows.

Field names, types and error codes follow Binance's USD-M futures documentation: prices and
quantities are strings, times are integer epoch milliseconds, errors are
``{"code": <negative int>, "msg": "..."}`` with HTTP 400.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from perpwatch.emulator.weights import REQUEST_WEIGHT_LIMIT_1M
from perpwatch.market.sim.model import SimTicker
from perpwatch.market.types import Candles, FundingRate

Params = Mapping[str, str]
PERPETUAL_DELIVERY_MS = 4_133_404_800_000  # the "never" deliveryDate Binance gives perpetuals
_SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_INT_RE = re.compile(r"^[0-9]{1,20}$")

RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
     "limit": REQUEST_WEIGHT_LIMIT_1M},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]  # fmt: skip
ASSETS: list[dict[str, Any]] = [
    {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in ("USDT", "USDC")
]


class BinanceError(Exception):
    """An error answer in Binance's format, e.g. ``-1121 Invalid symbol.``"""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def invalid_symbol() -> BinanceError:
    return BinanceError(-1121, "Invalid symbol.")


def fmt(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


def symbol_param(params: Params, *, required: bool) -> str | None:
    raw = params.get("symbol")
    if not raw:
        if required:
            msg = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            raise BinanceError(-1102, msg)
        return None
    if not _SYMBOL_RE.match(raw):
        msg = (
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."
        )
        raise BinanceError(-1100, msg)
    return raw


def int_param(params: Params, name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not _INT_RE.match(raw):
        msg = f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        raise BinanceError(-1100, msg)
    return int(raw)


def limit_param(params: Params, *, default: int, maximum: int) -> int:
    limit = int_param(params, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= maximum:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    return limit


def time_range(params: Params) -> tuple[int | None, int | None]:
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    return start, end


def quarter_delivery_ms(now_ms: int) -> int:
    """Delivery of the current-quarter contract: last Friday of Mar/Jun/Sep/Dec, 08:00 UTC."""
    d = datetime.fromtimestamp(now_ms / 1000, UTC)
    year, month = d.year, (d.month - 1) // 3 * 3 + 3
    while True:
        last = datetime(year, month, calendar.monthrange(year, month)[1], 8, tzinfo=UTC)
        delivery = last - timedelta(days=(last.weekday() - 4) % 7)
        if delivery.timestamp() * 1000 > now_ms:
            return int(delivery.timestamp() * 1000)
        year, month = (year + 1, 3) if month == 12 else (year, month + 3)


def symbol_info(
    symbol: str, base: str, quote: str, contract: str, status: str, delivery: int, onboard: int,
    price_decimals: int, qty_decimals: int,
) -> dict[str, Any]:  # fmt: skip
    """One ``exchangeInfo.symbols`` entry as Binance USD-M documents it."""
    tick, step = fmt(10.0**-price_decimals, price_decimals), fmt(10.0**-qty_decimals, qty_decimals)
    return {
        "symbol": symbol, "pair": symbol.split("_")[0], "contractType": contract,
        "deliveryDate": delivery, "onboardDate": onboard, "status": status,
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": base, "quoteAsset": quote, "marginAsset": quote,
        "pricePrecision": price_decimals, "quantityPrecision": qty_decimals,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "10000000",
             "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "100000000", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": "1000000",
             "stepSize": step},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSets": ["GRID", "COPY"],
    }  # fmt: skip


def kline_rows(c: Candles, price_decimals: int, qty_decimals: int) -> list[list[Any]]:
    """Binance kline rows: ``[openTime, "open", "high", "low", "close", "volume", closeTime,
    "quoteVolume", trades, "takerBuyBase", "takerBuyQuote", "0"]``."""
    price, qty, quote = (f"{{:.{d}f}}".format for d in (price_decimals, qty_decimals, 4))
    qv = c.volume * (c.open + c.high + c.low + c.close) / 4.0
    taker = 0.5 + 0.15 * np.tanh((c.close - c.open) / c.open / 0.003)  # buyers lead rallies
    cols = (c.open_time, c.open, c.high, c.low, c.close, c.volume, qv, c.volume * taker, qv * taker)
    return [
        [t, price(o), price(h), price(lo), price(cl), qty(v), t + c.timeframe_ms - 1, quote(q),
         int(q / 1000) + (v > 0), qty(tb), quote(tq), "0"]
        for t, o, h, lo, cl, v, q, tb, tq in zip(*(col.tolist() for col in cols), strict=True)
    ]  # fmt: skip


def ticker_24hr_entry(t: SimTicker, price_decimals: int, qty_decimals: int) -> dict[str, Any]:
    """One ``GET /fapi/v1/ticker/24hr`` entry (rolling 24h window ending at ``closeTime``)."""
    pd, qd = price_decimals, qty_decimals
    count = max(1, int(t.quote_volume / 1000))
    last_id = t.close_time_ms // 7 + len(t.symbol)  # grows with time, like Binance's trade ids
    return {
        "symbol": t.symbol, "priceChange": fmt(t.last - t.open, pd),
        "priceChangePercent": fmt((t.last / t.open - 1) * 100, 3),
        "weightedAvgPrice": fmt(t.quote_volume / t.volume if t.volume else t.last, pd),
        "lastPrice": fmt(t.last, pd), "lastQty": fmt(10.0**-qd * (1 + t.close_time_ms % 97), qd),
        "openPrice": fmt(t.open, pd), "highPrice": fmt(t.high, pd), "lowPrice": fmt(t.low, pd),
        "volume": fmt(t.volume, qd), "quoteVolume": fmt(t.quote_volume, 2),
        "openTime": t.open_time_ms, "closeTime": t.close_time_ms,
        "firstId": last_id - count + 1, "lastId": last_id, "count": count,
    }  # fmt: skip


def premium_index_entry(f: FundingRate, *, perpetual: bool) -> dict[str, Any]:
    """One ``GET /fapi/v1/premiumIndex`` entry; delivery contracts have no funding fields."""
    return {
        "symbol": f.symbol, "markPrice": fmt(f.mark_price, 8), "indexPrice": fmt(f.index_price, 8),
        "estimatedSettlePrice": fmt(f.index_price, 8),
        "lastFundingRate": fmt(f.funding_rate, 8) if perpetual else "",
        "interestRate": "0.00010000" if perpetual else "",
        "nextFundingTime": f.next_funding_time_ms if perpetual else 0, "time": f.timestamp_ms,
    }  # fmt: skip
