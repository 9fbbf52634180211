"""The sender against real loopback receivers (a webhook, a Bot API server) and a real
Redis: signed bodies, 4xx not retried, 5xx retried, 429's Retry-After honoured, Telegram's
answers understood, too-old alerts dropped, and the receiver errors logged."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from perpwatch.alerts.delivery import DeliveryConfig, Sender
from perpwatch.alerts.outbox import RedisOutbox
from perpwatch.alerts.signing import verify
from perpwatch.alerts.store import RuleStore
from perpwatch.redis_client import close_redis, open_redis
from tests.alerts.helpers import BOT_TOKEN, SECRET, record, stored, webhook
from tests.support.receivers import Behaviour, BotApiServer, WebhookReceiver

HOOK_RULE = "r_00000000000000a1"
TG_RULE = "r_00000000000000b2"


@pytest.fixture(scope="module")
def receivers() -> Iterator[tuple[WebhookReceiver, BotApiServer]]:
    with WebhookReceiver() as hook, BotApiServer() as bot:
        yield hook, bot


@dataclass
class Rig:
    outbox: RedisOutbox
    sender: Sender
    hook: WebhookReceiver
    bot: BotApiServer

    async def put(self, alert_id: str, rule_id: str, *, age_ms: int = 0) -> None:
        r = record(alert_id, rule_id=rule_id, created_at_ms=int(time.time() * 1000) - age_ms)
        await self.outbox.enqueue(r, cooldown_digest=alert_id, cooldown_ms=0, seen_ttl_ms=60_000)
        self.sender.wake()

    async def state(self, alert_id: str, until: str, timeout_s: float = 5.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = {r.id: r for r in await self.outbox.history(100)}
            if alert_id in found and found[alert_id].state == until:
                return found[alert_id].model_dump()
            if time.monotonic() > deadline:
                raise AssertionError(f"{alert_id}: {found.get(alert_id)}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def rig(
    redis_url: str, receivers: tuple[WebhookReceiver, BotApiServer]
) -> AsyncIterator[Rig]:
    hook, bot = receivers
    hook.clear()
    bot.clear()
    hook.behaviour = Behaviour()
    bot.behaviour = Behaviour()
    client = open_redis(redis_url, socket_timeout_s=2.0)
    rules = RuleStore(client, max_rules=10)
    await rules.add(stored(HOOK_RULE, webhook(f"{hook.url}/hook")))
    tg = {"type": "telegram", "bot_token": BOT_TOKEN, "chat_id": "-100123"}
    await rules.add(stored(TG_RULE, tg))
    outbox = RedisOutbox(client, history_size=100)
    config = DeliveryConfig(
        max_age_ms=3000,
        backoff_base_s=0.1,
        backoff_max_s=0.4,
        timeout_s=2.0,
        allow_private=True,
        telegram_api_url=bot.url,
    )
    async with httpx.AsyncClient(timeout=2.0) as http:
        sender = Sender(outbox=outbox, rules=rules, http=http, config=config, claimer="t")
        sender.start()
        yield Rig(outbox, sender, hook, bot)
        await sender.stop()
    await close_redis(client)


async def test_webhook_is_signed_and_carries_the_event_id(rig: Rig) -> None:
    await rig.put("e1", HOOK_RULE)
    done = await rig.state("e1", "delivered")
    assert done["attempts"] == 1 and done["last_status"] == 200
    (got,) = rig.hook.accepted()
    assert got.path == "/hook"
    assert got.headers["X-Perpwatch-Event-Id"] == "e1"
    assert verify(
        SECRET,
        got.headers["X-Perpwatch-Timestamp"],
        got.body,
        got.headers["X-Perpwatch-Signature"],
        now_s=time.time(),
    )
    assert not verify(
        "another-secret-000",
        got.headers["X-Perpwatch-Timestamp"],
        got.body,
        got.headers["X-Perpwatch-Signature"],
        now_s=time.time(),
    )
    body = got.json()
    assert (body["id"], body["rule_id"], body["kind"], body["symbol"]) == (
        "e1",
        HOOK_RULE,
        "stale",
        "BTCUSDT",
    )


async def test_4xx_is_not_retried_and_is_logged(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.hook.behaviour = Behaviour(status=410)
    with caplog.at_level(logging.WARNING, logger="perpwatch.alerts.delivery"):
        await rig.put("e2", HOOK_RULE)
        done = await rig.state("e2", "failed")
        await asyncio.sleep(0.5)
    assert done["attempts"] == 1 and done["last_status"] == 410
    assert len(rig.hook.received) == 1
    assert any(HOOK_RULE in m and "410" in m for m in caplog.messages)


async def test_5xx_is_retried_until_delivered(rig: Rig) -> None:
    rig.hook.behaviour = Behaviour(script=[500, 502, 503])
    await rig.put("e3", HOOK_RULE)
    done = await rig.state("e3", "delivered")
    assert done["attempts"] == 4
    assert [r.headers["X-Perpwatch-Event-Id"] for r in rig.hook.received] == ["e3"] * 4


async def test_429_retry_after_is_honoured(rig: Rig) -> None:
    rig.hook.behaviour = Behaviour(script=[429], retry_after="1")
    await rig.put("e4", HOOK_RULE)
    await rig.state("e4", "delivered")
    first, second = rig.hook.received
    assert second.at - first.at >= 0.95  # not the 0.1 s backoff


async def test_too_old_is_dropped(rig: Rig) -> None:
    rig.hook.behaviour = Behaviour(status=503)
    await rig.put("e5", HOOK_RULE)
    done = await rig.state("e5", "dropped", timeout_s=6)
    assert int(done["attempts"]) >= 3  # type: ignore[call-overload]
    await rig.put("e6", HOOK_RULE, age_ms=5000)  # older than the 3 s max age already
    done = await rig.state("e6", "dropped")
    assert done["attempts"] == 0


async def test_telegram_send_message(rig: Rig) -> None:
    await rig.put("t1", TG_RULE)
    await rig.state("t1", "delivered")
    (got,) = rig.bot.accepted()
    assert got.path == f"/bot{BOT_TOKEN}/sendMessage"
    msg = json.loads(got.body)
    assert msg["chat_id"] == "-100123" and msg["disable_web_page_preview"] is True
    assert msg["text"].startswith("t\n")


async def test_telegram_429_retry_after_and_400(rig: Rig) -> None:
    rig.bot.behaviour = Behaviour(script=[429], retry_after="1")
    await rig.put("t2", TG_RULE)
    done = await rig.state("t2", "delivered")
    assert done["attempts"] == 2
    first, second = rig.bot.received
    assert second.at - first.at >= 0.95
    rig.bot.behaviour = Behaviour(status=400)
    await rig.put("t3", TG_RULE)
    done = await rig.state("t3", "failed")
    assert done["last_status"] == 400 and "chat not found" in str(done["last_error"])
