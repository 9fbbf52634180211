"""What each role opens (runtime.py): an API-only process has no exchange client."""

from __future__ import annotations

import pytest

from perpwatch.errors import ExchangeError
from perpwatch.market.absent import AbsentMarket
from perpwatch.runtime import open_runtime
from perpwatch.settings import load_settings


async def test_an_api_only_process_opens_no_exchange_client(redis_url: str) -> None:
    settings = load_settings(
        MARKET="binanceusdm", FUNDING_EXCHANGES="binanceusdm,bybit", REDIS_URL=redis_url,
        PROCESS_SHARDS=False, HAMA_SCHEDULER_AUTO_START=False, TASK_BACKEND="saq",
        TASK_LOCAL_WORKER=False, FUNDING_CHECK_ENABLED=False,
    )  # fmt: skip
    async with open_runtime(settings, role="serve") as rt:
        assert rt.cluster is not None and rt.cluster.api_only
        assert all(isinstance(m, AbsentMarket) for m in rt.markets.values())
        assert set(rt.markets) == {"binanceusdm", "bybit"}
        assert rt.service.remote is not None  # misses go to the workers
        with pytest.raises(ExchangeError, match="no exchange client"):
            await rt.market.fetch_candles("BTCUSDT", timeframe="15m", since_ms=None, limit=5)


async def test_a_serve_process_that_takes_shards_has_its_exchange(redis_url: str) -> None:
    settings = load_settings(
        MARKET="sim", REDIS_URL=redis_url, HAMA_SCHEDULER_AUTO_START=False,
        FUNDING_CHECK_ENABLED=False,
    )  # fmt: skip
    async with open_runtime(settings, role="serve") as rt:
        assert rt.cluster is not None and not rt.cluster.api_only
        assert not isinstance(rt.market, AbsentMarket)
        assert rt.service.remote is None
        assert rt.cluster.consumer is not None
