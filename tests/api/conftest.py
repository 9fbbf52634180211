"""Fixtures for API tests: the real app under uvicorn, on the simulated market."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import httpx
import pytest

from perpwatch.api.app import create_app
from perpwatch.settings import Settings, load_settings
from tests.support.http_server import serve_app

API = "/api/gainer-analysis"


def sim_settings(**overrides: object) -> Settings:
    base: dict[str, object] = {
        "MARKET": "sim",
        "HAMA_SCHEDULER_AUTO_START": False,
        "SYMBOLS_LIMIT": 20,
        "LOG_LEVEL": "WARNING",
    }
    base.update(overrides)
    return load_settings(**base)


AppFactory = Callable[..., AbstractContextManager[httpx.Client]]


@pytest.fixture
def app_client() -> AppFactory:
    """``with app_client(REDIS_URL=...) as client:`` -- a running app and an HTTP client for it."""

    @contextmanager
    def start(**overrides: object) -> Iterator[httpx.Client]:
        app = create_app(sim_settings(**overrides))
        with serve_app(app) as url, httpx.Client(base_url=url, timeout=30) as client:
            yield client

    return start
