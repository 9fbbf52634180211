"""Small builders shared by the alert tests."""

from __future__ import annotations

from typing import Any

from perpwatch.alerts.models import AlertPayload, AlertRecord
from perpwatch.alerts.rules import RULE_SPEC, StoredRule

SECRET = "0123456789abcdef-secret"
BOT_TOKEN = "123456:ABCdefGHIjklMNOpqr"


def webhook(url: str) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET}


def stored(rule_id: str, channel: dict[str, Any], **fields: Any) -> StoredRule:
    spec = RULE_SPEC.validate_python(
        {"kind": "stale", "breaker_open": True, "channel": channel, **fields}
    )
    return StoredRule(id=rule_id, created_at_ms=0, rule=spec)


def record(
    alert_id: str,
    *,
    rule_id: str = "r_0000000000000001",
    created_at_ms: int,
    symbol: str | None = "BTCUSDT",
) -> AlertRecord:
    payload = AlertPayload(
        id=alert_id,
        rule_id=rule_id,
        kind="stale",
        symbol=symbol,
        timeframe="15m",
        exchange="sim",
        title="t",
        text="x",
        data={"age_s": 1},
        created_at="-",
        created_at_ms=created_at_ms,
    )
    return AlertRecord(
        id=alert_id,
        rule_id=rule_id,
        state="pending",
        created_at_ms=created_at_ms,
        next_attempt_ms=created_at_ms,
        payload=payload,
    )
