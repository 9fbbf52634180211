"""Sending what the outbox holds: claim due alerts, send each through its rule's channel,
and record what happened.

What an attempt leads to is decided by :func:`after_attempt` (pure, with the clock and
the jitter injected): delivered; failed for good (a 4xx other than 429, a refused
destination, a deleted rule); retried after exponential backoff with jitter, or after the
receiver's ``Retry-After``; dropped (and counted) once it would be older than
``ALERT_MAX_AGE_SECONDS``. Every process with a sender claims from the same outbox; the
claim is atomic, so each attempt of an alert is made by one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from perpwatch.alerts.channels.apprise import send_apprise
from perpwatch.alerts.channels.telegram import send_telegram
from perpwatch.alerts.channels.webhook import send_webhook
from perpwatch.alerts.models import AlertPayload, AlertRecord
from perpwatch.alerts.outbox import Outbox
from perpwatch.alerts.rules import AppriseChannel, Channel, TelegramChannel, WebhookChannel
from perpwatch.alerts.store import RuleStore
from perpwatch.background import Background
from perpwatch.errors import (
    CacheUnavailable,
    DeliveryError,
    DeliveryRateLimited,
    PermanentDeliveryError,
)
from perpwatch.metrics import record as metric

logger = logging.getLogger(__name__)

BATCH = 32
CONCURRENCY = 8
POLL_S = 0.2  # a sender looks for due alerts at least this often (others' enqueues)


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    max_age_ms: int
    backoff_base_s: float
    backoff_max_s: float
    timeout_s: float
    allow_private: bool
    telegram_api_url: str

    @property
    def lease_ms(self) -> int:
        """How long a claim holds: past any one attempt (a request's timeout, twice)."""
        return int((2 * self.timeout_s + 2.0) * 1000)


def backoff_s(attempts: int, *, base_s: float, max_s: float, jitter: float) -> float:
    """The wait after the ``attempts``-th failed attempt: base x 2^(attempts-1), at most
    ``max_s``, scaled by ``jitter`` in [0.5, 1] (``jitter`` is a uniform draw in [0, 1))."""
    delay = min(max_s, base_s * 2.0 ** min(max(attempts - 1, 0), 40))
    return delay * (0.5 + 0.5 * jitter)


def after_attempt(
    record: AlertRecord,
    error: DeliveryError | None,
    *,
    status: int | None,
    now_ms: int,
    config: DeliveryConfig,
    jitter: float,
) -> tuple[AlertRecord, int | None]:
    """The record after one attempt, and when to try again (None: it is done)."""
    attempts = record.attempts + 1
    if error is None:
        done = record.model_copy(
            update={
                "state": "delivered",
                "attempts": attempts,
                "delivered_at_ms": now_ms,
                "last_status": status,
                "last_error": None,
                "next_attempt_ms": None,
            }
        )
        return done, None
    update: dict[str, object] = {
        "attempts": attempts,
        "last_status": error.status,
        "last_error": str(error)[:300],
    }
    if isinstance(error, PermanentDeliveryError):
        return record.model_copy(
            update={**update, "state": "failed", "next_attempt_ms": None}
        ), None
    wait_s = backoff_s(
        attempts, base_s=config.backoff_base_s, max_s=config.backoff_max_s, jitter=jitter
    )
    if isinstance(error, DeliveryRateLimited) and error.retry_after_s is not None:
        wait_s = max(error.retry_after_s, 0.05)
    next_ms = now_ms + int(wait_s * 1000)
    if next_ms > record.created_at_ms + config.max_age_ms:
        dropped = {
            **update,
            "state": "dropped",
            "next_attempt_ms": None,
            "last_error": f"{update['last_error']} (then too old to retry)",
        }
        return record.model_copy(update=dropped), None
    return record.model_copy(
        update={**update, "state": "pending", "next_attempt_ms": next_ms}
    ), next_ms


async def send_via(
    http: httpx.AsyncClient,
    channel: Channel,
    payload: AlertPayload,
    *,
    config: DeliveryConfig,
    now_s: float,
) -> int:
    """Send ``payload`` through ``channel``: the receiver's status, or a DeliveryError."""
    if isinstance(channel, WebhookChannel):
        return await send_webhook(
            http, channel, payload, allow_private=config.allow_private, now_s=now_s
        )
    if isinstance(channel, TelegramChannel):
        return await send_telegram(http, channel, payload, api_url=config.telegram_api_url)
    if isinstance(channel, AppriseChannel):
        return await send_apprise(channel, payload)
    raise PermanentDeliveryError(f"unknown channel {type(channel).__name__}")


class Sender:
    def __init__(
        self,
        *,
        outbox: Outbox,
        rules: RuleStore,
        http: httpx.AsyncClient,
        config: DeliveryConfig,
        claimer: str,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._rules = rules
        self._http = http
        self._config = config
        self._claimer = claimer
        self._clock = clock
        self._rng = rng
        self._wake = asyncio.Event()
        self._bg = Background("perpwatch-alert-sender")
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._failing = False
        self.sent = 0

    def start(self) -> None:
        self._bg.start(self._loop)

    async def stop(self) -> None:
        await self._bg.stop()

    def wake(self) -> None:
        """An alert was enqueued here: look now rather than at the next poll."""
        self._wake.set()

    async def _loop(self) -> None:
        while not self._bg.stopping:
            try:
                batch = await self._outbox.claim(
                    claimer=self._claimer,
                    now_ms=int(self._clock() * 1000),
                    lease_ms=self._config.lease_ms,
                    limit=BATCH,
                )
                if self._failing:
                    logger.info("alerts: the outbox answers again")
                self._failing = False
                if batch:
                    await asyncio.gather(*(self._attempt(r) for r in batch))
                    metric.alert_outbox_depth(await self._outbox.depth())
                    continue  # more may be due
            except CacheUnavailable as e:
                if not self._failing:
                    logger.warning("alerts: the outbox does not answer (%s); retrying", e)
                self._failing = True
                await asyncio.sleep(1.0)
                continue
            except Exception:  # the sender must survive surprises, or alerts stop for good
                logger.exception("alerts: the sender failed unexpectedly")
                await asyncio.sleep(1.0)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    async def _attempt(self, record: AlertRecord) -> None:
        async with self._slots:
            now_ms = int(self._clock() * 1000)
            rule = await self._rules.get(record.rule_id)
            error: DeliveryError | None = None
            status: int | None = None
            if now_ms > record.created_at_ms + self._config.max_age_ms:
                updated = record.model_copy(
                    update={
                        "state": "dropped",
                        "next_attempt_ms": None,
                        "last_error": "too old to send",
                    }
                )
                next_ms = None
            elif rule is None:
                updated = record.model_copy(
                    update={
                        "state": "dropped",
                        "next_attempt_ms": None,
                        "last_error": "the rule was deleted",
                    }
                )
                next_ms = None
            else:
                try:
                    status = await send_via(
                        self._http,
                        rule.rule.channel,
                        record.payload,
                        config=self._config,
                        now_s=self._clock(),
                    )
                except DeliveryError as e:
                    error = e
                updated, next_ms = after_attempt(
                    record,
                    error,
                    status=status,
                    now_ms=int(self._clock() * 1000),
                    config=self._config,
                    jitter=self._rng(),
                )
            await self._outbox.finish(updated, claimer=self._claimer, next_ms=next_ms)
            self._account(updated, error, rule_channel=None if rule is None else rule.rule.channel)

    def _account(
        self, record: AlertRecord, error: DeliveryError | None, *, rule_channel: Channel | None
    ) -> None:
        kind = record.payload.kind
        via = rule_channel.type if rule_channel is not None else "none"
        if record.state == "delivered":
            self.sent += 1
            metric.alert(kind, "delivered")
            return
        if record.state == "dropped":
            metric.alert(kind, "dropped")
            metric.alert_dropped()
            logger.warning(
                "alert %s of rule %s dropped after %d attempts: %s",
                record.id,
                record.rule_id,
                record.attempts,
                record.last_error,
            )
            return
        metric.alert(kind, "failed" if record.state == "failed" else "retried")
        if error is not None:
            when = (
                "not retried"
                if record.next_attempt_ms is None
                else f"retry in {(record.next_attempt_ms - self._clock() * 1000) / 1000:.1f} s"
            )
            logger.warning(
                "alert %s of rule %s via %s: status %s, %s (attempt %d, %s)",
                record.id,
                record.rule_id,
                via,
                error.status,
                error,
                record.attempts,
                when,
            )
