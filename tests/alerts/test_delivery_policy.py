"""What one attempt leads to (pure): delivered, failed, retried with backoff or after
Retry-After, dropped when too old."""

from __future__ import annotations

import pytest

from perpwatch.alerts.channels.http_errors import for_status, retry_after_s
from perpwatch.alerts.delivery import DeliveryConfig, after_attempt, backoff_s
from perpwatch.alerts.models import AlertPayload, AlertRecord
from perpwatch.errors import (
    DeliveryRateLimited,
    PermanentDeliveryError,
    TemporaryDeliveryError,
)

CONFIG = DeliveryConfig(
    max_age_ms=60_000,
    backoff_base_s=1.0,
    backoff_max_s=8.0,
    timeout_s=5.0,
    allow_private=False,
    telegram_api_url="https://api.telegram.org",
)


def record(attempts: int = 0) -> AlertRecord:
    payload = AlertPayload(
        id="a",
        rule_id="r",
        kind="stale",
        symbol=None,
        timeframe=None,
        exchange="sim",
        title="t",
        text="x",
        data={},
        created_at="-",
        created_at_ms=0,
    )
    return AlertRecord(
        id="a", rule_id="r", state="pending", attempts=attempts, created_at_ms=0, payload=payload
    )


@pytest.mark.parametrize(
    ("attempts", "jitter", "expected"),
    [
        (1, 0.0, 0.5),
        (1, 1.0, 1.0),
        (2, 1.0, 2.0),
        (3, 1.0, 4.0),
        (4, 1.0, 8.0),
        (9, 1.0, 8.0),
        (200, 0.5, 6.0),
    ],
)
def test_backoff(attempts: int, jitter: float, expected: float) -> None:
    assert backoff_s(attempts, base_s=1.0, max_s=8.0, jitter=jitter) == pytest.approx(expected)


def test_delivered() -> None:
    done, again = after_attempt(record(), None, status=200, now_ms=10, config=CONFIG, jitter=0)
    assert (done.state, done.attempts, done.delivered_at_ms, again) == ("delivered", 1, 10, None)


def test_a_4xx_fails_for_good() -> None:
    error = for_status(404, "Not Found", retry_after=None)
    assert isinstance(error, PermanentDeliveryError)
    done, again = after_attempt(record(), error, status=None, now_ms=10, config=CONFIG, jitter=0)
    assert (done.state, done.last_status, again) == ("failed", 404, None)


def test_a_5xx_retries_with_backoff_then_drops_when_too_old() -> None:
    error = for_status(503, "Unavailable", retry_after=None)
    assert isinstance(error, TemporaryDeliveryError)
    done, again = after_attempt(
        record(2), error, status=None, now_ms=1000, config=CONFIG, jitter=1.0
    )
    assert (done.state, done.attempts, again) == ("pending", 3, 1000 + 4000)
    done, again = after_attempt(
        record(2), error, status=None, now_ms=57_000, config=CONFIG, jitter=1.0
    )
    assert (done.state, again) == ("dropped", None)


def test_429_honours_retry_after() -> None:
    error = for_status(429, "Too Many", retry_after=retry_after_s("7"))
    assert isinstance(error, DeliveryRateLimited) and error.retry_after_s == 7.0
    done, again = after_attempt(record(), error, status=None, now_ms=0, config=CONFIG, jitter=0)
    assert (done.state, again) == ("pending", 7000)
    assert retry_after_s("Wed, 21 Oct 2015 07:28:10 GMT", now_s=1445412480.0) == 10.0
    assert retry_after_s("soon") is None and retry_after_s(None) is None


def test_redirects_are_not_followed() -> None:
    assert isinstance(for_status(302, "Found", retry_after=None), PermanentDeliveryError)
