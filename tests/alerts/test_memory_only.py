"""Alerts end to end in memory-only mode (``REDIS_ENABLED=false``): a real ``perpwatch
serve`` on the simulated market, rules added over HTTP, its own funding refresh and stale
check raising alerts, its in-process outbox delivering them, signed, to a real loopback
webhook receiver."""

from __future__ import annotations

import time

import httpx

from perpwatch.alerts.signing import verify
from perpwatch.testing.processes import PerpwatchProcess
from tests.alerts.helpers import SECRET, webhook
from tests.alerts.processes import KEY
from tests.support.receivers import WebhookReceiver
from tests.support.redis_server import free_port

AUTH = {"Authorization": f"Bearer {KEY}"}


def test_memory_only_evaluates_and_delivers_funding_and_stale_alerts() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "REDIS_ENABLED": "false",
        "MARKET": "sim",
        "SYMBOLS": "BTCUSDT,ETHUSDT",
        "LOG_LEVEL": "INFO",
        "API_KEY": KEY,
        "FUNDING_CHECK_ENABLED": "true",
        "FUNDING_CHECK_INTERVAL": "2",
        "ALERT_STALE_CHECK_SECONDS": "1",
        "ALERT_ALLOW_PRIVATE_URLS": "true",
    }
    with (
        WebhookReceiver() as receiver,
        PerpwatchProcess(["serve", "--port", str(port)], env=env, stop_timeout_s=5) as proc,
    ):
        proc.wait_http(f"{url}/health/ready", timeout_s=60)
        funding = {"kind": "funding", "name": "any BTC rate", "symbols": ["BTCUSDT"],
                   "abs_rate_above": 0, "channel": webhook(f"{receiver.url}/funding")}  # fmt: skip
        stale = {"kind": "stale", "name": "ETH older than 1 ms", "symbols": ["ETHUSDT"],
                 "older_than_s": 0.001, "channel": webhook(f"{receiver.url}/stale")}  # fmt: skip
        ids = {}
        for body in (funding, stale):
            r = httpx.post(f"{url}/api/alerts/rules", json=body, headers=AUTH, timeout=10)
            assert r.status_code == 201, r.text
            ids[body["kind"]] = r.json()["data"]["id"]

        deadline = time.monotonic() + 30
        while {r.path for r in receiver.accepted()} != {"/funding", "/stale"}:
            assert time.monotonic() < deadline, [r.path for r in receiver.received]
            time.sleep(0.1)
        time.sleep(3)  # further refreshes and checks: the cooldown holds them back
        got = {r.path: r for r in receiver.accepted()}
        assert sorted(r.path for r in receiver.received) == ["/funding", "/stale"]
        expected = (("/funding", "funding", "BTCUSDT"), ("/stale", "stale", "ETHUSDT"))
        for path, kind, symbol in expected:
            received = got[path]
            h = received.headers
            assert verify(SECRET, h["X-Perpwatch-Timestamp"], received.body,
                          h["X-Perpwatch-Signature"], now_s=time.time())  # fmt: skip
            doc = received.json()
            assert h["X-Perpwatch-Event-Id"] == doc["id"]
            assert (doc["kind"], doc["symbol"], doc["rule_id"]) == (kind, symbol, ids[kind])
        alert = got["/funding"].json()
        assert alert["exchange"] == "sim" and alert["data"]["funding_rate"] != 0, alert

        history = httpx.get(f"{url}/api/alerts/history", timeout=10).json()["data"]
        assert history["count"] == 2
        assert {a["state"] for a in history["alerts"]} == {"delivered"}
        assert {a["id"] for a in history["alerts"]} == {r.json()["id"] for r in got.values()}
        listed = httpx.get(f"{url}/api/alerts/rules", timeout=10)
        assert {r["id"] for r in listed.json()["data"]["rules"]} == set(ids.values())
        assert SECRET not in listed.text
