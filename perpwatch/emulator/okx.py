"""OKX v5 public market-data emulator over the simulator's ``okx`` venue.

Mirrors https://www.okx.com/docs-v5/en/ (Public Data: Get instruments, Get funding rate,
Get mark price, Get system time; Market Data: Get tickers, Get ticker, Get index tickers)
as ccxt's ``okx`` uses them: the envelope ``{"code": "0", "msg": "", "data": [...]}``,
every value a string (times in epoch ms) except a few booleans, arrays and ``instIdCode``.
Errors carry the code as a string with an empty ``data``: 50014 (missing parameter) and
51000 (bad parameter) with HTTP 400, 51001 (unknown instrument) with 200.

``public/funding-rate?instId=ANY`` answers for every trading swap in one response; the
funding interval is only implied, by ``nextFundingTime - fundingTime``. SWAP lists the
USDT perpetuals of the ``okx`` venue plus, so clients must filter, a USDC and an inverse
(coin-margined) perpetual, a suspended and a pre-open USDT perpetual; FUTURES lists a USDT
and an inverse quarterly; SPOT, MARGIN and OPTION are answered well-formed and empty.
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
    sim_funding_rate,
    sim_last_price,
    sim_ticker_24h,
    venue_symbols,
)

logger = logging.getLogger(__name__)

VENUE = "okx"
INST_TYPES = ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION")
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
Handler = Callable[[Params, int], list[dict[str, Any]]]


class OkxError(Exception):
    """A v5 error answer, e.g. ``{"code": "51001", "msg": "Instrument ID does not exist"}``."""

    def __init__(self, code: str, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise OkxError("50014", f"Parameter {name} can not be empty.")
    return value


def rate_str(x: float) -> str:
    """A funding rate as OKX writes it: no trailing zeros."""
    return f"{x:.8f}".rstrip("0").rstrip(".") or "0"


def _day_starts(now_ms: int) -> tuple[int, int, int]:
    """24h ago, the start of the UTC day and the start of the UTC+8 day (``sodUtc8``)."""
    utc8 = (now_ms + 8 * _HOUR_MS) // _DAY_MS * _DAY_MS - 8 * _HOUR_MS
    return now_ms - _DAY_MS, now_ms // _DAY_MS * _DAY_MS, utc8


def _unknown_instrument() -> OkxError:
    return OkxError("51001", "Instrument ID does not exist", 200)


def _instrument(
    inst_type: str, inst_id: str, uly: str, settle: str, state: str, list_ms: int,
    price_decimals: int, ct_val: str, *, exp_ms: int = 0, code: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """One ``public/instruments`` entry of a SWAP or FUTURES contract."""
    base, quote = uly.split("-")
    linear = settle == quote
    group = "1" if not linear else "3" if settle == "USDC" else "2"
    return {
        "alias": "quarter" if exp_ms else "", "auctionEndTime": "", "baseCcy": "",
        "category": "1", "contTdSwTime": "", "ctMult": "1", "ctType": "linear" if linear
        else "inverse", "ctVal": ct_val, "ctValCcy": base if linear else quote,
        "expTime": str(exp_ms) if exp_ms else "", "futureSettlement": False, "groupId": group,
        "instFamily": uly, "instId": inst_id, "instIdCode": code, "instType": inst_type,
        "lever": "50", "listTime": str(list_ms), "lotSz": "0.1", "maxIcebergSz":
        "1000000.0000000000000000", "maxLmtAmt": "20000000", "maxLmtSz": "1000000",
        "maxMktAmt": "", "maxMktSz": "10000", "maxStopSz": "10000", "maxTriggerSz":
        "1000000.0000000000000000", "maxTwapSz": "1000000.0000000000000000", "minSz": "0.1",
        "openType": "", "optType": "", "preMktSwTime": "", "quoteCcy": "",
        "ruleType": "normal", "settleCcy": settle, "state": state, "stk": "",
        "tickSz": fmt(10.0**-price_decimals, price_decimals), "tradeQuoteCcyList": [],
        "uly": uly, "instCategory": "1", "upcChg": [],
    }  # fmt: skip


class OkxEmulator:
    """Endpoint handlers ``handler(params, now_ms) -> data``, wrapped in the v5 envelope."""

    def __init__(self, universe: SimUniverse) -> None:
        self.universe = universe
        names = venue_symbols(universe, VENUE)
        self._swaps = {f"{universe.get(n).base}-USDT-SWAP": n for n in names}
        self._indices = {f"{universe.get(n).base}-USDT": n for n in names}
        self.handlers: dict[str, Handler] = {
            "/api/v5/public/time": lambda p, now: [{"ts": str(now)}],
            "/api/v5/public/instruments": self.instruments,
            "/api/v5/public/funding-rate": self.funding_rate,
            "/api/v5/public/mark-price": self.mark_price,
            "/api/v5/market/index-tickers": self.index_tickers,
            "/api/v5/market/tickers": self.tickers,
            "/api/v5/market/ticker": self.ticker,
        }

    # --- which contract serves which data -----------------------------------------------

    def _aliases(self, now_ms: int) -> dict[str, tuple[str, float, float, float]]:
        """Trading contracts that are not USDT perpetuals -> (instType, price factor,
        volume factor, index factor) on BTCUSDT."""
        yymmdd = datetime.fromtimestamp(quarter_delivery_ms(now_ms) / 1000, UTC).strftime("%y%m%d")
        return {"BTC-USDC-SWAP": ("SWAP", 0.9998, 0.08, 0.9998),
                "BTC-USD-SWAP": ("SWAP", 1.0001, 0.3, 1.0001),
                f"BTC-USDT-{yymmdd}": ("FUTURES", 1.012, 0.02, 1.0),
                f"BTC-USD-{yymmdd}": ("FUTURES", 1.0125, 0.05, 1.0001)}  # fmt: skip

    def _trading(self, inst_type: str, now_ms: int) -> list[str]:
        swaps = list(self._swaps) if inst_type == "SWAP" else []
        return swaps + [i for i, a in self._aliases(now_ms).items() if a[0] == inst_type]

    def _source(self, inst_id: str, now_ms: int) -> tuple[str, str, float, float, float]:
        """(simulated symbol, instType, price, volume and index factor) behind ``inst_id``."""
        if inst_id in self._swaps:
            return self._swaps[inst_id], "SWAP", 1.0, 1.0, 1.0
        if inst_id in (aliases := self._aliases(now_ms)):
            return ("BTCUSDT", *aliases[inst_id])
        raise _unknown_instrument()

    def _price_decimals(self, inst_id: str) -> int:
        symbol = self._swaps.get(inst_id) or self._indices.get(inst_id) or "BTCUSDT"
        return self.universe.get(symbol).price_decimals

    def _inst_type(self, params: Params) -> str:
        inst_type = _required(params, "instType")
        if inst_type not in INST_TYPES:
            raise OkxError("51000", "Parameter instType error")
        return inst_type

    def _select(self, params: Params, inst_type: str, now_ms: int) -> list[str]:
        """The trading instruments of ``inst_type``, or the one ``instId`` asked for."""
        inst_id, trading = params.get("instId"), self._trading(inst_type, now_ms)
        if inst_id and inst_id not in trading:
            raise _unknown_instrument()
        return [inst_id] if inst_id else trading

    # --- endpoints -----------------------------------------------------------------------

    def instruments(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        inst_type, family = self._inst_type(params), params.get("instFamily") or params.get("uly")
        out: list[dict[str, Any]] = []
        if inst_type == "SWAP":
            for inst_id, name in self._swaps.items():
                s = self.universe.get(name)
                listed = 1_573_557_408_000 + int(s.shape[0] * 1400) * _DAY_MS
                out.append(_instrument("SWAP", inst_id, f"{s.base}-USDT", "USDT", "live", listed,
                                       s.price_decimals, fmt(10.0**-s.qty_decimals, s.qty_decimals),
                                       code=10_000 + s.rank))  # fmt: skip
            tomorrow = now_ms // _DAY_MS * _DAY_MS + _DAY_MS
            out += [
                _instrument("SWAP", "FTT-USDT-SWAP", "FTT-USDT", "USDT", "suspend",
                            1_612_137_600_000, 4, "1", code=9_001),
                _instrument("SWAP", "PUMP-USDT-SWAP", "PUMP-USDT", "USDT", "preopen", tomorrow,
                            6, "1000", code=9_002),
            ]  # fmt: skip
        pd, expiry = self._price_decimals("BTCUSDT"), quarter_delivery_ms(now_ms)
        for inst_id, (kind, *_) in self._aliases(now_ms).items():
            if kind == inst_type:
                quote = inst_id.split("-")[1]
                settle, ct_val = ("BTC", "100") if quote == "USD" else (quote, "0.01")
                exp = expiry if kind == "FUTURES" else 0
                out.append(_instrument(kind, inst_id, f"BTC-{quote}", settle, "live",
                                       1_573_557_408_000, pd, ct_val, exp_ms=exp,
                                       code=9_100 + len(out)))  # fmt: skip
        if family:
            out = [i for i in out if i["instFamily"] == family]
        wanted = params.get("instId")
        if wanted and not (out := [i for i in out if i["instId"] == wanted]):
            raise _unknown_instrument()
        return out

    def funding_rate(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """Funding of one perpetual, or of every trading perpetual with ``instId=ANY``."""
        inst_id = _required(params, "instId")
        if inst_id != "ANY" and inst_id not in self._trading("SWAP", now_ms):
            raise _unknown_instrument()
        out = []
        for name in self._trading("SWAP", now_ms) if inst_id == "ANY" else [inst_id]:
            src, _, pf, _, xf = self._source(name, now_ms)
            f = sim_funding(self.universe, src, now_ms, VENUE)
            iv = f.funding_interval_h * _HOUR_MS
            settled = sim_funding_rate(self.universe, src, f.next_funding_time_ms // iv - 2, VENUE)
            cap = {8: "0.00375", 4: "0.015"}.get(f.funding_interval_h, "0.02")
            premium = f.mark_price * pf / (f.index_price * xf) - 1.0
            out.append({
                "formulaType": "noRate", "fundingRate": rate_str(f.funding_rate),
                "fundingTime": str(f.next_funding_time_ms), "impactValue": "", "instId": name,
                "instType": "SWAP", "interestRate": "", "maxFundingRate": cap,
                "method": "current_period", "minFundingRate": f"-{cap}", "nextFundingRate": "",
                "nextFundingTime": str(f.next_funding_time_ms + iv), "premium": f"{premium:.16f}",
                "settFundingRate": rate_str(settled), "settState": "settled", "ts": str(now_ms),
            })  # fmt: skip
        return out

    def mark_price(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        inst_type = self._inst_type(params)
        out = []
        for name in self._select(params, inst_type, now_ms):
            src, _, pf, _, _ = self._source(name, now_ms)
            mark = fmt(sim_funding(self.universe, src, now_ms, VENUE).mark_price * pf,
                       self._price_decimals(name))  # fmt: skip
            out.append({"instType": inst_type, "instId": name, "markPx": mark, "ts": str(now_ms)})
        return out

    def index_tickers(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """Index prices by ``quoteCcy`` (USDT, USDC, USD, BTC) or one index ``instId``."""
        inst_id, quote = params.get("instId"), params.get("quoteCcy")
        if not inst_id and not quote:
            raise OkxError("50014", "Parameter quoteCcy can not be empty.")
        every = {**{i: (n, 1.0) for i, n in self._indices.items()},
                 "BTC-USDC": ("BTCUSDT", 0.9998), "BTC-USD": ("BTCUSDT", 1.0001)}  # fmt: skip
        if inst_id and inst_id not in every:
            raise _unknown_instrument()
        out = []
        for name in [inst_id] if inst_id else [i for i in every if i.split("-")[1] == quote]:
            (src, xf), pd = every[name], self._price_decimals(name)
            f = sim_funding(self.universe, src, now_ms, VENUE)
            index, ratio = f.index_price * xf, f.index_price * xf / f.mark_price
            t = sim_ticker_24h(self.universe, src, now_ms, VENUE)
            ago, sod0, sod8 = (sim_last_price(self.universe, src, ms, VENUE) * ratio
                               for ms in _day_starts(now_ms))  # fmt: skip
            out.append({
                "instId": name, "idxPx": fmt(index, pd),
                "high24h": fmt(max(t.high * ratio, index, ago), pd), "sodUtc0": fmt(sod0, pd),
                "open24h": fmt(ago, pd), "low24h": fmt(min(t.low * ratio, index, ago), pd),
                "sodUtc8": fmt(sod8, pd), "ts": str(now_ms),
            })  # fmt: skip
        return out

    def tickers(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        inst_type = self._inst_type(params)
        return [self._ticker(n, now_ms) for n in self._select(params, inst_type, now_ms)]

    def ticker(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        inst_id = _required(params, "instId")
        self._source(inst_id, now_ms)
        return [self._ticker(inst_id, now_ms)]

    def _ticker(self, name: str, now_ms: int) -> dict[str, Any]:
        src, inst_type, pf, vf, _ = self._source(name, now_ms)
        s, pd = self.universe.get(src), self._price_decimals(name)
        t = sim_ticker_24h(self.universe, src, now_ms, VENUE)
        ct_val = 100.0 / t.last if name.startswith("BTC-USD-") else 10.0**-s.qty_decimals
        sod = [sim_last_price(self.universe, src, ms, VENUE) * pf for ms in _day_starts(now_ms)[1:]]
        size = str(1 + now_ms % 89)
        return {
            "instType": inst_type, "instId": name, "last": fmt(t.last * pf, pd), "lastSz": size,
            "askPx": fmt(t.last * pf + 10.0**-pd, pd), "askSz": size,
            "bidPx": fmt(t.last * pf, pd), "bidSz": size, "open24h": fmt(t.open * pf, pd),
            "high24h": fmt(t.high * pf, pd), "low24h": fmt(t.low * pf, pd),
            "volCcy24h": fmt(t.volume * vf, s.qty_decimals),
            "vol24h": fmt(t.volume * vf / ct_val, 0), "ts": str(now_ms),
            "sodUtc0": fmt(sod[0], pd), "sodUtc8": fmt(sod[1], pd),
        }  # fmt: skip
