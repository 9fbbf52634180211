"""Runs aligned to candle closes, on a clock set just before a 1m close (no waiting for
a real minute): the simulated market, the scheduler and the cache share the clock, so
the close is real for all of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from perpwatch.runtime import open_runtime
from perpwatch.settings import load_settings

CLOSE_IN_S = 2.0
DELAY_S = 0.5


def clock_before_a_close() -> tuple[Callable[[], float], float]:
    """A clock that reads CLOSE_IN_S before a minute boundary now, and that boundary."""
    boundary = (time.time() // 60 + 2) * 60
    shift = boundary - CLOSE_IN_S - time.time()
    return (lambda: time.time() + shift), boundary


def iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("redis", [False, True], ids=["memory", "redis"])
async def test_a_run_starts_just_after_each_close_and_its_lag_is_measured(
    redis: bool, redis_url: str
) -> None:
    clock, boundary = clock_before_a_close()
    extra: dict[str, object] = {"REDIS_URL": redis_url} if redis else {"REDIS_ENABLED": False}
    settings = load_settings(
        MARKET="sim", HAMA_TIMEFRAME="1m", HAMA_SCHEDULER_INTERVAL=5, SYMBOLS_LIMIT=12,
        CANDLE_CLOSE_DELAY_SECONDS=DELAY_S, SCHEDULER_LEASE_SECONDS=1, LOG_LEVEL="WARNING",
        FUNDING_CHECK_ENABLED=False, **extra,
    )  # fmt: skip
    async with open_runtime(settings, clock=clock) as rt:
        sched = rt.scheduler
        deadline = time.monotonic() + 20
        while sched.last_run is None or sched.last_run.close_ms is None:
            assert time.monotonic() < deadline, "no close-aligned run"
            await asyncio.sleep(0.05)
        run = sched.last_run
        assert run.close_ms == int(boundary * 1000)
        assert boundary + DELAY_S - 0.05 <= run.started <= boundary + DELAY_S + 0.5
        assert run.ok == 12 and run.failed == 0
        lag = run.signal_lag
        assert lag is not None and lag.candle_close == iso(boundary)
        assert lag.measured == 12 and lag.missing == 0
        assert lag.p50_s is not None and lag.max_s is not None
        assert DELAY_S <= lag.p50_s <= lag.max_s < 3.0
        status = sched.status()
        assert status.signal_lag == lag and status.timeframe == "1m"
        assert status.next_candle_close == iso(boundary + 60)
        assert status.server_time_offset_ms is not None
        assert abs(status.server_time_offset_ms) < 100  # the sim's clock is ours
        report = run.report()
        assert report.candle_close == iso(boundary) and report.signal_lag == lag
        docs = await rt.service.cached_times(list(sched.symbols))
        assert all(d is not None and d[1] == iso(boundary) for d in docs)
        if redis:  # the cycle is named after the close, which every leader agrees on
            assert run.cycle_id == f"1m:{int(boundary * 1000) + int(DELAY_S * 1000)}"
