"""Rule validation: what is refused (4xx) and what is accepted, as pure functions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from perpwatch.alerts.destinations import check_rule, is_public, literal_address
from perpwatch.alerts.rules import REDACTED, RULE_SPEC, StoredRule, checked_rule
from perpwatch.errors import InvalidInput

SECRET = "0123456789abcdef-secret"


def hook(url: str) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET}


def spec(**fields: Any) -> Any:
    return RULE_SPEC.validate_python(
        {"kind": "signal_change", "channel": hook("https://h.example.com/a"), **fields}
    )


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "price"},  # unknown kind
        {
            "kind": "signal_change",
            "channel": hook("https://x.example.com"),
            "min_confidence": float("nan"),
        },
        {"kind": "funding", "channel": hook("https://x.example.com"), "apr_above": float("inf")},
        {"kind": "arbitrage", "channel": hook("https://x.example.com"), "spread_apr_above": -1},
        {"kind": "signal_change", "channel": hook("https://x.example.com"), "extra": 1},
        {"kind": "signal_change", "channel": hook("https://x.example.com"), "to": ["MOON"]},
        {
            "kind": "signal_change",
            "channel": {"type": "webhook", "url": "https://x.example.com", "secret": "short"},
        },
        {
            "kind": "signal_change",
            "channel": {"type": "telegram", "bot_token": "x/../y", "chat_id": "1"},
        },
        {"kind": "signal_change", "channel": hook("https://x.example.com"), "symbols": ["A"] * 201},
    ],
)
def test_shape_errors_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RULE_SPEC.validate_python(body)


def test_json_nan_is_refused() -> None:
    text = (
        '{"kind":"stale","older_than_s":NaN,"channel":'
        + json.dumps(hook("https://a.example.com"))
        + "}"
    )
    with pytest.raises(ValidationError):
        RULE_SPEC.validate_json(text)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "http://h:99999/",
    ],
)
def test_non_http_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        checked_rule(spec(channel=hook(url)))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.5.5/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://240.0.0.1/",
    ],
)
def test_private_addresses_are_refused_unless_allowed(url: str) -> None:
    rule = checked_rule(spec(channel=hook(url)))
    with pytest.raises(InvalidInput):
        check_rule(rule, allow_private=False)
    check_rule(rule, allow_private=True)


def test_public_urls_pass() -> None:
    for url in ("https://hooks.example.com/a?b=c", "http://93.184.216.34:8080/x"):
        check_rule(checked_rule(spec(channel=hook(url))), allow_private=False)
    assert is_public(literal_address("8.8.8.8"))  # type: ignore[arg-type]
    assert literal_address("hooks.example.com") is None


def test_conditions_are_needed_and_symbols_made_canonical() -> None:
    with pytest.raises(InvalidInput):
        checked_rule(
            RULE_SPEC.validate_python({"kind": "funding", "channel": hook("https://a.example.com")})
        )
    with pytest.raises(InvalidInput):
        checked_rule(
            RULE_SPEC.validate_python({"kind": "stale", "channel": hook("https://a.example.com")})
        )
    with pytest.raises(InvalidInput):
        checked_rule(spec(timeframes=["7m"]))
    assert checked_rule(spec(symbols=["btc/usdt", "BTCUSDT"])).symbols == ["BTCUSDT"]


def test_secrets_are_redacted_except_for_the_store() -> None:
    stored = StoredRule(id="r_0123456789abcdef", created_at_ms=1, rule=spec())
    assert stored.dump()["rule"]["channel"]["secret"] == REDACTED
    assert SECRET not in json.dumps(stored.dump())
    again = StoredRule.model_validate_json(stored.stored_json())
    assert again.rule.channel.secret.get_secret_value() == SECRET  # type: ignore[union-attr]
    tg = {"type": "telegram", "bot_token": "123456:ABCdefGHIjklMNOpqr", "chat_id": "-1001"}
    stored = StoredRule(id="r_0123456789abcdef", created_at_ms=1, rule=spec(channel=tg))
    assert stored.dump()["rule"]["channel"] == {
        "type": "telegram",
        "bot_token": REDACTED,
        "chat_id": "-1001",
    }
