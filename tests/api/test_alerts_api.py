"""``/api/alerts`` against the real app (on the shared Redis, which the cluster pass swaps
for the Redis Cluster, or in memory), with loopback receivers.

Events are constructed and published on the app's bus the way the publisher does, so each
test knows which alerts must come and which must not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from perpwatch.alerts.signing import verify
from perpwatch.constants import SCHEDULER_CONTROL_KEY, hama_analysis_key
from tests.api.conftest import AppFactory
from tests.support.alert_events import (
    arbitrage_view,
    change_event,
    funding_table,
    publish,
)
from tests.support.receivers import Behaviour, BotApiServer, WebhookReceiver

KEY = "alerts-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
SECRET = "0123456789abcdef-secret"
RULES = "/api/alerts/rules"


def hook(url: str) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET}


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[WebhookReceiver, BotApiServer]]:
    with WebhookReceiver() as receiver, BotApiServer() as bot:
        yield receiver, bot


def add(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(RULES, json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    rule: dict[str, Any] = r.json()["data"]
    return rule


def test_rules_crud_auth_and_bad_rules_change_nothing(
    app_client: AppFactory, redis_url: str
) -> None:
    good = {
        "kind": "funding",
        "name": "hot",
        "abs_rate_above": 0.001,
        "channel": hook("https://hooks.example.com/a"),
    }
    with app_client(REDIS_URL=redis_url, API_KEY=KEY, ALERT_MAX_RULES=3) as client:
        assert client.post(RULES, json=good).status_code == 401
        assert (
            client.post(
                RULES, json=good, headers={"Authorization": "Bearer wrong-key-000000"}
            ).status_code
            == 401
        )
        rule = add(client, good)
        assert rule["id"].startswith("r_") and rule["rule"]["channel"]["secret"] == "**********"
        assert SECRET not in client.get(RULES).text
        bad: list[tuple[int, Any]] = [
            (422, {**good, "kind": "moon"}),
            (400, {**good, "channel": hook("ftp://hooks.example.com/a")}),
            (400, {**good, "channel": hook("http://127.0.0.1:9/x")}),
            (400, {**good, "channel": hook("http://169.254.169.254/latest")}),
            (400, {**good, "channel": hook("http://[::1]/x")}),
            (400, {**good, "channel": hook("http://localhost/x")}),
            (422, {**good, "unknown": 1}),
            (422, {**good, "abs_rate_above": "high"}),
            (422, {**good, "symbols": [f"S{i}USDT" for i in range(201)]}),
            (400, {"kind": "funding", "channel": hook("https://hooks.example.com/a")}),
            (400, {**good, "channel": {"type": "apprise", "url": "json://hooks.example.com"}}),
            (422, [good]),
        ]
        for status, body in bad:
            r = client.post(RULES, json=body, headers=AUTH)
            assert r.status_code == status, (body, r.text)
            assert r.json()["code"] == 0 and "Traceback" not in r.text
        for raw in (
            '{"kind":"funding","abs_rate_above":NaN,"channel":%s}',
            '{"kind":"funding","apr_above":Infinity,"channel":%s}',
            '{"kind":"funding","apr_above":-Infinity,"channel":%s}',
        ):
            text = raw % json.dumps(hook("https://hooks.example.com/a"))
            r = client.post(
                RULES, content=text, headers={**AUTH, "Content-Type": "application/json"}
            )
            assert r.status_code == 422, r.text
        r = client.post(
            RULES, content=b"x" * 200_000, headers={**AUTH, "Content-Type": "application/json"}
        )
        assert r.status_code == 413
        r = client.post(
            RULES, content=json.dumps(good), headers={**AUTH, "Content-Type": "text/plain"}
        )
        assert r.status_code == 415
        listed = client.get(RULES).json()["data"]
        assert [x["id"] for x in listed["rules"]] == [rule["id"]]  # nothing else stored
        add(client, good)
        add(client, good)
        r = client.post(RULES, json=good, headers=AUTH)
        assert r.status_code == 409 and "ALERT_MAX_RULES" in r.json()["msg"]
        assert client.get(f"{RULES}/{rule['id']}").json()["data"]["rule"]["name"] == "hot"
        assert client.get(f"{RULES}/r_0000000000000000").status_code == 404
        assert client.get(f"{RULES}/..%2F..").status_code == 404
        assert client.delete(f"{RULES}/{rule['id']}").status_code == 401
        assert client.delete(f"{RULES}/{rule['id']}", headers=AUTH).status_code == 200
        assert client.delete(f"{RULES}/{rule['id']}", headers=AUTH).status_code == 404
        assert client.get(RULES).json()["data"]["count"] == 2
        assert client.get("/api/alerts/history?limit=0").status_code == 422
        assert client.get("/api/alerts/history?limit=501").status_code == 422
        assert client.get("/api/alerts/history").json()["data"] == {"count": 0, "alerts": []}
    with app_client(REDIS_URL=redis_url, API_KEY=KEY) as client:  # another replica: same rules
        assert client.get(RULES).json()["data"]["count"] == 2


def wait(pred: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def leader_settings(redis_url: str, bot: BotApiServer) -> dict[str, object]:
    """A leader that does not compute (the schedule stays stopped), evaluating alerts."""
    return {
        "REDIS_URL": redis_url,
        "API_KEY": KEY,
        "HAMA_SCHEDULER_AUTO_START": True,
        "ALERT_ALLOW_PRIVATE_URLS": True,
        "TELEGRAM_API_URL": bot.url,
        "ALERT_COOLDOWN_SECONDS": 900,
        "ALERT_STALE_CHECK_SECONDS": 1,
        "ALERT_BACKOFF_BASE_SECONDS": 0.2,
        "ALERT_BACKOFF_MAX_SECONDS": 1,
        "HAMA_TIMEFRAMES": "15m,1h",
    }


def test_every_kind_fires_end_to_end_once_per_cooldown(
    app_client: AppFactory,
    redis_url: str,
    on_cluster: frozenset[str],
    receivers: tuple[WebhookReceiver, BotApiServer],
) -> None:
    receiver, bot = receivers
    receiver.clear()
    bot.clear()
    receiver.behaviour = Behaviour()
    bot.behaviour = Behaviour()
    cluster = redis_url in on_cluster
    sync = redis.Redis.from_url(redis_url)
    sync.set(SCHEDULER_CONTROL_KEY, json.dumps({"running": False, "generation": 1}))
    now_ms = int(time.time() * 1000)
    old = {
        "hama_analysis": {"recommendation": "BUY", "confidence": 0.9},
        "timestamp_ms": now_ms - 600_000,
    }
    sync.set(hama_analysis_key("STALEUSDT"), json.dumps(old), px=60_000)
    sync.set(hama_analysis_key("FRESHUSDT"), json.dumps({**old, "timestamp_ms": now_ms}), px=60_000)
    sync.set(hama_analysis_key("ALGNUSDT"), json.dumps(old), px=60_000)
    sync.set(hama_analysis_key("ALGNUSDT", "1h"), json.dumps(old), px=60_000)
    sync.close()
    url = f"{receiver.url}/hook"
    with app_client(**leader_settings(redis_url, bot)) as client:
        rules = {
            "sc": add(
                client,
                {
                    "kind": "signal_change",
                    "symbols": ["SIGUSDT"],
                    "to": ["BUY", "SELL"],
                    "min_confidence": 0.6,
                    "channel": hook(url),
                },
            ),
            "align": add(
                client,
                {
                    "kind": "signal_change",
                    "symbols": ["ALGNUSDT"],
                    "to": ["BUY"],
                    "min_alignment": 0.9,
                    "channel": hook(url),
                },
            ),
            "funding": add(
                client,
                {
                    "kind": "funding",
                    "exchanges": ["bybit"],
                    "sign_flip": True,
                    "abs_rate_above": 0.01,
                    "channel": hook(url),
                },
            ),
            "arb": add(
                client,
                {
                    "kind": "arbitrage",
                    "spread_apr_above": 30,
                    "max_price_gap_pct": 0.5,
                    "channel": hook(url),
                },
            ),
            "stale": add(
                client,
                {
                    "kind": "stale",
                    "symbols": ["STALEUSDT", "FRESHUSDT"],
                    "older_than_s": 300,
                    "channel": hook(url),
                },
            ),
            "tg": add(
                client,
                {
                    "kind": "signal_change",
                    "symbols": ["TGUSDT"],
                    "channel": {
                        "type": "telegram",
                        "bot_token": "123456:ABCdefGHIjklMNOpqr",
                        "chat_id": "@perpwatch_test",
                    },
                },
            ),
        }
        time.sleep(1.2)  # the evaluator reads rules at most once a second
        publish(
            redis_url,
            [
                change_event("SIGUSDT", "BUY", "HOLD"),  # fires
                change_event("SIGUSDT", "SELL", "BUY", confidence=0.59),  # near miss: confidence
                change_event("SIGUSDT", "HOLD", "SELL"),  # near miss: HOLD not asked for
                change_event("SIGUSDT", "SELL", "HOLD"),  # fires
                change_event("SIGUSDT", "BUY", "SELL"),  # cooldown: BUY already sent
                change_event("OTHERUSDT", "BUY", "HOLD"),  # another symbol
                change_event("ALGNUSDT", "BUY", "HOLD"),  # fires: 15m and 1h both BUY -> 1.0
                change_event("TGUSDT", "BUY", "HOLD"),  # fires, to Telegram
                (
                    "funding",
                    funding_table("bybit", {"FLIPUSDT": 0.0001, "HOTUSDT": 0.01}),
                    None,
                    None,
                ),
                (
                    "funding",
                    funding_table("okx", {"FLIPUSDT": -0.0001, "HOTUSDT": 0.02}),
                    None,
                    None,
                ),
                (
                    "funding",
                    funding_table("bybit", {"FLIPUSDT": -0.0001, "HOTUSDT": 0.0101}),
                    None,
                    None,
                ),
                ("arbitrage", arbitrage_view("ARBUSDT", 30.5, 0.4), None, None),
                ("arbitrage", arbitrage_view("GAPUSDT", 40.0, -0.6), None, None),  # near miss: gap
                ("arbitrage", arbitrage_view("LOWUSDT", 30.0, 0.1), None, None),  # near miss: 30
            ],
            cluster=cluster,
        )
        expected = {
            ("sc", "SIGUSDT", "to:BUY"),
            ("sc", "SIGUSDT", "to:SELL"),
            ("align", "ALGNUSDT", "to:BUY"),
            ("funding", "FLIPUSDT", "sign_flip"),
            ("funding", "HOTUSDT", "abs_rate"),
            ("arb", "ARBUSDT", "binanceusdm>bybit"),
            ("stale", "STALEUSDT", "old"),
        }
        wait(lambda: len(receiver.accepted()) >= len(expected) and bot.accepted(), 15)
        time.sleep(2.5)  # more stale checks run: the cooldown holds them back
        by_id = {v["id"]: k for k, v in rules.items()}
        got = []
        for r in receiver.accepted():
            body = r.json()
            assert verify(
                SECRET,
                r.headers["X-Perpwatch-Timestamp"],
                r.body,
                r.headers["X-Perpwatch-Signature"],
                now_s=time.time(),
            )
            assert r.headers["X-Perpwatch-Event-Id"] == body["id"]
            got.append((by_id[body["rule_id"]], body["symbol"], body["title"]))
        assert sorted((k, s) for k, s, _ in got) == sorted((k, s) for k, s, _ in expected), got
        (tg,) = bot.accepted()
        assert json.loads(tg.body)["chat_id"] == "@perpwatch_test"
        assert "TGUSDT" in json.loads(tg.body)["text"]
        history = client.get("/api/alerts/history?limit=50").json()["data"]
        assert history["count"] == len(expected) + 1
        assert {a["state"] for a in history["alerts"]} == {"delivered"}
        assert all(a["attempts"] == 1 for a in history["alerts"])


def cli(*args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PERPWATCH_API_KEY": key or ""}
    return subprocess.run(
        [sys.executable, "-m", "perpwatch", "alerts", "test", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_sends_a_test_message_through_the_rule_channel(
    app_client: AppFactory, receivers: tuple[WebhookReceiver, BotApiServer]
) -> None:
    receiver, bot = receivers
    receiver.clear()
    bot.clear()
    receiver.behaviour = Behaviour()
    bot.behaviour = Behaviour()
    settings = {
        "REDIS_ENABLED": False,
        "API_KEY": KEY,
        "ALERT_ALLOW_PRIVATE_URLS": True,
        "TELEGRAM_API_URL": bot.url,
    }
    with app_client(**settings) as client:
        url = str(client.base_url)
        hooked = add(
            client, {"kind": "stale", "breaker_open": True, "channel": hook(f"{receiver.url}/t")}
        )
        tg = add(
            client,
            {
                "kind": "stale",
                "breaker_open": True,
                "channel": {
                    "type": "telegram",
                    "bot_token": "123456:ABCdefGHIjklMNOpqr",
                    "chat_id": "42",
                },
            },
        )
        done = cli(hooked["id"], "--url", url)
        assert done.returncode == 0, done.stderr
        assert "delivered" in done.stdout
        (got,) = receiver.accepted()
        assert got.json()["test"] is True and got.json()["rule_id"] == hooked["id"]
        assert verify(
            SECRET,
            got.headers["X-Perpwatch-Timestamp"],
            got.body,
            got.headers["X-Perpwatch-Signature"],
            now_s=time.time(),
        )
        assert cli(tg["id"], "--url", url).returncode == 0
        assert json.loads(bot.accepted()[0].body)["chat_id"] == "42"
        receiver.behaviour = Behaviour(status=500)
        failed = cli(hooked["id"], "--url", url)
        assert failed.returncode == 1 and "500" in failed.stdout
        assert cli("r_0000000000000000", "--url", url).returncode == 2
        assert cli(hooked["id"], "--url", url, key="wrong-key-0000000000").returncode == 2
        # the test message is not an alert: the history stays empty
        assert client.get("/api/alerts/history").json()["data"]["count"] == 0
