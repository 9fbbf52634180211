"""The alerts of one process: its rule store, the shared outbox, a sender, and the
evaluator that works while this process leads.

Every process with a role (``serve``, ``worker``) runs a sender: the outbox hands each
due alert to one of them at a time. Only the leader evaluates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx

from perpwatch.alerts.delivery import DeliveryConfig, Sender, send_via
from perpwatch.alerts.evaluator import EvaluationConfig, Evaluator, StaleView, recommendations
from perpwatch.alerts.models import AlertPayload
from perpwatch.alerts.outbox import MemoryOutbox, Outbox, RedisOutbox
from perpwatch.alerts.rules import StoredRule
from perpwatch.alerts.state import EvaluationState
from perpwatch.alerts.store import RuleStore
from perpwatch.analysis.models import Recommendation
from perpwatch.cache.failover import FailoverCache
from perpwatch.constants import hama_analysis_key
from perpwatch.market.types import ExchangeState
from perpwatch.push.bus import EventBus
from perpwatch.redis_client import RedisClient
from perpwatch.settings import Settings
from perpwatch.timeutil import iso_ms

SEEN_MARGIN_MS = 3600_000  # seen ids outlive the oldest alert that may still be queued


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        max_age_ms=int(settings.alert_max_age_s * 1000),
        backoff_base_s=settings.alert_backoff_base_s,
        backoff_max_s=settings.alert_backoff_max_s,
        timeout_s=settings.alert_timeout_s,
        allow_private=settings.alert_allow_private_urls,
        telegram_api_url=settings.telegram_api_url,
    )


def open_http(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=settings.alert_timeout_s, follow_redirects=False, trust_env=False
    )


@dataclass(slots=True)
class Alerts:
    rules: RuleStore
    outbox: Outbox
    http: httpx.AsyncClient
    config: DeliveryConfig
    sender: Sender | None = None
    evaluator: Evaluator | None = None

    async def send_test(self, rule: StoredRule, *, clock: Callable[[], float] = time.time) -> int:
        """Send a test message through ``rule``'s channel now (not queued): the receiver's
        status, or a DeliveryError."""
        now_ms = int(clock() * 1000)
        payload = AlertPayload(
            id=f"test-{rule.id}-{now_ms}",
            rule_id=rule.id,
            kind=rule.rule.kind,
            symbol=None,
            timeframe=None,
            exchange=None,
            title=f"perpwatch test of rule {rule.id}",
            text=f"A test message of the {rule.rule.kind} rule {rule.rule.name or rule.id}.",
            data={},
            created_at=iso_ms(now_ms),
            created_at_ms=now_ms,
            test=True,
        )
        return await send_via(
            self.http, rule.rule.channel, payload, config=self.config, now_s=clock()
        )


def build_alerts(
    settings: Settings,
    client: RedisClient | None,
    *,
    clock: Callable[[], float] = time.time,
) -> Alerts:
    outbox: Outbox = (
        RedisOutbox(client, history_size=settings.alert_history_size)
        if client is not None
        else MemoryOutbox(history_size=settings.alert_history_size, clock_ms=lambda: clock() * 1000)
    )
    return Alerts(
        rules=RuleStore(client, max_rules=settings.alert_max_rules),
        outbox=outbox,
        http=open_http(settings),
        config=delivery_config(settings),
    )


def start_sender(alerts: Alerts, *, claimer: str, clock: Callable[[], float]) -> Sender:
    sender = Sender(
        outbox=alerts.outbox,
        rules=alerts.rules,
        http=alerts.http,
        config=alerts.config,
        claimer=claimer,
        clock=clock,
    )
    sender.start()
    alerts.sender = sender
    return sender


def start_evaluator(
    alerts: Alerts,
    settings: Settings,
    *,
    bus: EventBus,
    cache: FailoverCache,
    client: RedisClient | None,
    is_leader: Callable[[], bool],
    watched: Callable[[], list[str]],
    exchange_state: Callable[[], ExchangeState],
    clock: Callable[[], float],
) -> Evaluator:
    primary = settings.hama_timeframe

    def key(symbol: str, timeframe: str) -> str:
        return hama_analysis_key(symbol, None if timeframe == primary else timeframe)

    async def analyses_of(symbol: str) -> list[tuple[Recommendation, float]]:
        hits = await cache.mget([key(symbol, tf) for tf in settings.hama_timeframes])
        return recommendations([None if h is None else h.value for h in hits])

    async def stale_view(extra: Sequence[str] | None) -> StaleView:
        symbols = list(dict.fromkeys([*watched(), *(extra or [])]))
        hits = await cache.mget([key(s, primary) for s in symbols])
        computed: dict[str, int] = {}
        for symbol, hit in zip(symbols, hits, strict=True):
            if hit is None:
                continue
            try:
                computed[symbol] = int(json.loads(hit.value)["timestamp_ms"])
            except (ValueError, KeyError, TypeError):
                continue
        state = exchange_state()
        return StaleView(computed, primary, state.name, state.breaker_open)

    sender = alerts.sender
    evaluator = Evaluator(
        bus=bus,
        outbox=alerts.outbox,
        rules=alerts.rules,
        state=EvaluationState(client),
        config=EvaluationConfig(
            cooldown_ms=int(settings.alert_cooldown_s * 1000),
            seen_ttl_ms=int(settings.alert_max_age_s * 1000) + SEEN_MARGIN_MS,
            stale_every_s=settings.alert_stale_check_s,
        ),
        is_leader=is_leader,
        analyses_of=analyses_of,
        stale_view=stale_view,
        on_queued=sender.wake if sender is not None else (lambda: None),
        clock=clock,
    )
    evaluator.start()
    alerts.evaluator = evaluator
    return evaluator
