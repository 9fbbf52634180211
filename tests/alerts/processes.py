"""Real ``perpwatch serve`` processes for the alert tests: their settings, a rule added
over HTTP, the leader's lease, and constructed signal changes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import redis

from perpwatch.constants import SCHEDULER_CONTROL_KEY
from perpwatch.testing.processes import PerpwatchProcess
from tests.alerts.helpers import SECRET
from tests.support.alert_events import change_event
from tests.support.receivers import WebhookReceiver
from tests.support.redis_server import free_port

KEY = "alerts-key-0123456789abcdef"


def env(redis_url: str, **extra: str) -> dict[str, str]:
    return {
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": "false",
        "MARKET": "sim",
        "SYMBOLS": "BTCUSDT",
        "LOG_LEVEL": "INFO",
        "API_KEY": KEY,
        "HAMA_SCHEDULER_AUTO_START": "true",
        "SCHEDULER_LEASE_SECONDS": "3",
        "FUNDING_CHECK_ENABLED": "false",
        "ALERT_ALLOW_PRIVATE_URLS": "true",
        "ALERT_BACKOFF_BASE_SECONDS": "0.5",
        "ALERT_BACKOFF_MAX_SECONDS": "4",
        "ALERT_TIMEOUT_SECONDS": "3",
        **extra,
    }


@contextmanager
def replicas(
    redis_url: str, n: int, stack: ExitStack, **extra: str
) -> Iterator[list[tuple[PerpwatchProcess, str]]]:
    out = []
    for _ in range(n):
        port = free_port()
        proc = stack.enter_context(
            PerpwatchProcess(
                ["serve", "--port", str(port)], env=env(redis_url, **extra), stop_timeout_s=5
            )
        )
        out.append((proc, f"http://127.0.0.1:{port}"))
    for proc, url in out:
        proc.wait_http(f"{url}/health", timeout_s=60)
    yield out


def stopped_schedule(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.set(SCHEDULER_CONTROL_KEY, json.dumps({"running": False, "generation": 1}))
    return client


def add_rule(url: str, receiver: WebhookReceiver) -> str:
    body = {
        "kind": "signal_change",
        "to": ["BUY", "SELL"],
        "channel": {"type": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET},
    }
    r = httpx.post(f"{url}/api/alerts/rules", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def wait_leader(client: redis.Redis, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while client.get("hama:scheduler:lease") is None:
        assert time.monotonic() < deadline, "no leader"
        time.sleep(0.1)


def changes(prefix: str, n: int) -> list[tuple[str, object, str | None, str | None]]:
    return [change_event(f"{prefix}{i}USDT", "BUY", "HOLD") for i in range(n)]  # type: ignore[misc]
