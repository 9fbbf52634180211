"""Injected faults: what the emulator does, and that perpwatch never turns one into data.

Real parts only: the emulator under uvicorn on loopback, the real ccxt client, the real
scheduler and analysis service.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from itertools import pairwise
from typing import Any

import ccxt.async_support as ccxt_async
import httpx
import numpy as np
import pytest

from perpwatch.emulator import FaultConfig, running_emulator
from perpwatch.emulator.faults import KINDS, FaultPlan
from perpwatch.errors import PerpwatchError, TemporaryExchangeError
from perpwatch.market.candle_store import CandleStore
from perpwatch.market.ccxt.market import CcxtMarket
from perpwatch.runtime import open_runtime
from perpwatch.settings import load_settings

KLINES = "/fapi/v1/klines"


def _settings(url: str, **extra: object) -> Any:
    base: dict[str, object] = {
        "MARKET": "binanceusdm",
        "EXCHANGE_API_URL": url,
        "REDIS_ENABLED": False,
        "HAMA_SCHEDULER_AUTO_START": False,
        "LOG_LEVEL": "WARNING",
        "EXCHANGE_TIMEOUT": 1,
    }
    return load_settings(**{**base, **extra})


def test_fault_decisions_are_seeded_and_independent_of_arrival_order() -> None:
    config = FaultConfig.mixed(0.2, seed=7)
    keys = [f"symbol=S{i}USDT&interval=15m&limit=499".encode() for i in range(4000)]
    a, b = FaultPlan(config), FaultPlan(config)
    forward = {k: a.decide("GET", KLINES, k) for k in keys}
    backward = {k: b.decide("GET", KLINES, k) for k in reversed(keys)}
    assert {k: v and v[0] for k, v in forward.items()} == {
        k: v and v[0] for k, v in backward.items()
    }
    assert 0.17 < sum(a.injected.values()) / len(keys) < 0.23
    assert all(0.035 < a.injected[kind] / len(keys) < 0.065 for kind in KINDS)
    # a retried request gets a fresh draw: not faulted forever
    assert {a.decide("GET", KLINES, keys[0]) is None for _ in range(50)} == {True, False}
    other_seed = FaultPlan(FaultConfig.mixed(0.2, seed=8))
    assert [other_seed.decide("GET", KLINES, k) is None for k in keys[:200]] != [
        forward[k] is None for k in keys[:200]
    ]


def test_each_fault_kind_over_real_http() -> None:
    with running_emulator() as url, httpx.Client(base_url=url, timeout=5) as c:
        klines = {"symbol": "BTCUSDT", "interval": "15m", "limit": "30"}

        def configure(**faults: Any) -> None:
            reset = dict.fromkeys(KINDS, 0.0)
            r = c.post("/_emulator/config", json={"faults": {**reset, **faults}})
            assert r.status_code == 200, r.text

        configure(error_5xx=1.0)
        answers = [c.get(KLINES, params=klines) for _ in range(30)]
        assert {r.status_code for r in answers} == {500, 502, 503}
        r503 = next(r for r in answers if r.status_code == 503)
        assert r503.json()["code"] == -1001 and "X-MBX-USED-WEIGHT-1M" in r503.headers

        configure(timeout=1.0, hang_s=0.4)
        with pytest.raises(httpx.ReadTimeout):
            c.get(KLINES, params=klines, timeout=0.15)
        assert c.get(KLINES, params=klines).status_code == 504  # the CDN gives up first

        configure(drop=1.0)
        for _ in range(6):  # both variants: before any answer, and half-way through the body
            with pytest.raises(httpx.TransportError):
                c.get(KLINES, params=klines)

        configure(malformed=1.0)
        bodies = [c.get(KLINES, params=klines) for _ in range(12)]
        assert {r.status_code for r in bodies} == {200}
        broken = 0
        for r in bodies:
            try:
                rows = json.loads(r.content)
            except ValueError:
                broken += 1  # truncated JSON or an HTML page
                continue
            bad = len(rows) != 30 or any(row[4] == "n/a" for row in rows)
            broken += bad
        assert broken == len(bodies)
        stats = c.get("/_emulator/stats").json()["faults"]
        assert set(stats["variants"]) >= {
            "error_5xx:500",
            "error_5xx:502",
            "error_5xx:503",
            "timeout:hang",
            "drop:before_response",
            "drop:mid_body",
            "malformed:truncated_json",
            "malformed:html_200",
            "malformed:bad_row",
        }

        for mode, check in (("503", 503), ("drop", None)):
            c.post("/_emulator/config", json={"down": True, "down_mode": mode})
            for path in (KLINES, "/v5/market/time", "/api/v5/public/time"):
                if check is None:
                    with pytest.raises(httpx.TransportError):
                        c.get(path, params=klines)
                else:
                    assert c.get(path, params=klines).status_code == check
        assert c.get("/_emulator/stats").status_code == 200  # control paths stay up
        assert c.post("/_emulator/config", json={"down": "sideways"}).status_code == 400
        assert c.post("/_emulator/config", json={"bogus": 1}).status_code == 400
        assert c.get("/_emulator/config").json()["down"] is True  # unchanged by bad requests


async def test_malformed_bodies_never_become_candles() -> None:
    """ccxt 4.5 hands a body it cannot parse back as a string and its parsers iterate it
    into rows of None; a non-numeric price becomes None; a missing row just leaves a gap.
    perpwatch refuses all of them."""
    config = FaultConfig(malformed=1.0, paths=(KLINES,), seed=3)
    with running_emulator(faults=config) as url:

        async def variants() -> dict[str, int]:
            async with httpx.AsyncClient(base_url=url) as emu:
                stats = (await emu.get("/_emulator/stats")).json()
            result: dict[str, int] = stats["faults"]["variants"]
            return result

        raw = ccxt_async.binanceusdm({"enableRateLimit": False})
        raw.urls["api"] = {
            k: re.sub(r"^https?://[^/]+", url, v) if isinstance(v, str) else v
            for k, v in raw.urls["api"].items()
        }
        answers: list[list[list[Any]]] = []
        try:
            await raw.load_markets()
            for _ in range(6):  # ccxt returns whatever it made of the body, without objecting
                answers.append(await raw.fetch_ohlcv("BTC/USDT:USDT", "15m", limit=499))
        finally:
            await raw.close()
        assert sum((await variants()).values()) == 6
        for rows in answers:
            times = [r[0] for r in rows]
            gap = any(b is None or a is None or b - a != 900_000 for a, b in pairwise(times))
            assert gap or any(v is None for row in rows for v in row)

        market = CcxtMarket("binanceusdm", api_url=url, retries=0)
        store = CandleStore(market, timeframe="15m", history=499)
        errors: list[str] = []
        try:
            for i in range(12):
                with pytest.raises(TemporaryExchangeError) as e:
                    await store.snapshot(f"{['BTC', 'ETH', 'SOL'][i % 3]}USDT")
                errors.append(str(e.value))
        finally:
            await market.close()
        seen = await variants()
    assert store.held("BTCUSDT") == store.held("ETHUSDT") == store.held("SOLUSDT") == 0
    assert seen.keys() == {"malformed:truncated_json", "malformed:html_200", "malformed:bad_row"}
    assert any("not JSON" in m for m in errors) and any("malformed row" in m for m in errors)
    assert any("not contiguous" in m for m in errors)  # the missing-row variant


async def test_refresh_with_20_percent_faults_completes_or_names_each_failure() -> None:
    faults = FaultConfig.mixed(0.2, seed=11, hang_s=3.0)
    with running_emulator(faults=faults) as url:
        emu = httpx.AsyncClient(base_url=url)
        settings = _settings(url, SYMBOLS_LIMIT=100)
        async with open_runtime(settings, start_scheduler=False, with_tasks=False) as rt:
            symbols = await rt.scheduler.resolve_symbols()
            started = time.monotonic()
            run = await rt.scheduler.run_once(symbols)
            wall = time.monotonic() - started
            cached = set(await rt.service.cached_symbols())
            held = {s: rt.candles._candles[s] for s in cached}
            market = rt.market
            assert isinstance(market, CcxtMarket)
            gate = market.gate.as_json()
        injected = (await emu.get("/_emulator/stats")).json()["faults"]["injected"]
        await emu.post("/_emulator/config", json={"faults": {"rate": 0.0}})
        await emu.aclose()
        clean_market = CcxtMarket("binanceusdm", api_url=url)
        clean = CandleStore(clean_market, timeframe="15m", history=499)
        try:
            reference = {s: (await clean.snapshot(s)).closed for s in sorted(cached)[:40]}
        finally:
            await clean_market.close()
    assert len(symbols) == 100 and run.ok + run.failed == 100
    assert set(injected) == set(KINDS) and sum(injected.values()) >= 10
    assert gate["retries"] > 0 and not gate["breaker_open"]
    assert cached == set(symbols) - set(run.failures)  # exactly the failures are missing
    assert all(reason.strip() for reason in run.failures.values())
    assert run.ok >= 95 and wall < 15
    for symbol, ref in reference.items():  # what was cached came from intact answers
        got = held[symbol]
        common = np.intersect1d(got.open_time, ref.open_time)
        assert len(common) >= 490
        gi, ri = np.isin(got.open_time, common), np.isin(ref.open_time, common)
        for column in ("open", "high", "low", "close", "volume"):
            np.testing.assert_array_equal(getattr(got, column)[gi], getattr(ref, column)[ri])


async def test_last_good_value_is_served_stale_until_it_expires() -> None:
    with running_emulator() as url:
        emu = httpx.AsyncClient(base_url=url)
        settings = _settings(
            url, SYMBOLS="BTCUSDT,ETHUSDT,SOLUSDT", HAMA_CACHE_TTL=3, EXCHANGE_RETRIES=1
        )
        async with open_runtime(settings, start_scheduler=False, with_tasks=False) as rt:
            good = await rt.scheduler.run_once()
            written = time.time()
            before = {s: (await rt.service.get(s)).document for s in rt.scheduler.symbols}
            await emu.post(
                "/_emulator/config", json={"faults": {"error_5xx": 1.0, "paths": [KLINES]}}
            )
            bad = await rt.scheduler.run_once()
            served = await rt.service.get("ETHUSDT")
            await asyncio.sleep(max(0.0, written + 3.2 - time.time()))  # the TTL ends
            with pytest.raises(PerpwatchError):
                await rt.service.get("ETHUSDT")
            await emu.post("/_emulator/config", json={"faults": {"error_5xx": 0.0}})
            again = await rt.service.get("ETHUSDT")
        await emu.aclose()
    assert (good.ok, bad.ok, bad.failed) == (3, 0, 3)
    assert all(f"klines {s}: " in m for s, m in bad.failures.items())  # with ccxt's reason
    assert served.cached and served.stale and served.document == before["ETHUSDT"]
    assert served.stale_reason is not None and served.stale_reason.startswith(
        "latest refresh failed"
    )
    assert served.age_s > 0
    assert not again.cached and not again.stale
