"""Alert rules: one typed model per kind, a discriminated union on ``kind``, and the
channel each rule sends through.

Validation here is about shape: finite thresholds (``NaN``/``Infinity`` are refused),
canonical symbols, known timeframes and exchanges, ``http(s)`` URLs. Whether a URL's
host may be reached (not private, loopback, link-local or reserved) depends on
``ALERT_ALLOW_PRIVATE_URLS`` and is judged by :func:`perpwatch.alerts.destinations.check_rule`
after parsing, and again on the resolved addresses at send time.

Secrets (a webhook's HMAC secret, a bot token, an Apprise URL) are ``SecretStr``: a JSON
dump shows ``**********`` unless the dump's context says ``{"reveal": True}``, which only
the rule store uses.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    SerializationInfo,
    TypeAdapter,
    WithJsonSchema,
    field_serializer,
)

from perpwatch.analysis.models import Recommendation
from perpwatch.errors import InvalidInput
from perpwatch.settings import SUPPORTED_MARKETS
from perpwatch.symbols import normalize_symbol
from perpwatch.types import TIMEFRAME_MS

MAX_SYMBOLS = 200
MAX_URL_CHARS = 2048
REDACTED = "**********"
RuleKind = Literal["signal_change", "funding", "arbitrage", "stale"]
# the shape stated in the schema (for clients and the fuzzer); the checks are
# :func:`checked_rule`'s, which answer 400
URL_PATTERN = r"^\s*[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/\S*)?\s*$"
BOT_TOKEN_PATTERN = r"^[0-9]{1,20}:[A-Za-z0-9_-]{10,100}$"  # noqa: S105 - a shape, not a token
SYMBOL_PATTERN = r"^\s*[A-Za-z0-9/:_-]{2,40}\s*$"  # as the analyze-symbol request's


def _reveal(value: SecretStr, info: SerializationInfo) -> str:
    context = info.context
    if isinstance(context, dict) and context.get("reveal") is True:
        return value.get_secret_value()
    return REDACTED


def check_http_url(url: str) -> str:
    """``url`` if it is an absolute ``http(s)`` URL with a host; InvalidInput otherwise."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise InvalidInput("channel.url: not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("channel.url: only http:// and https:// URLs are allowed")
    if not host:
        raise InvalidInput("channel.url: the URL has no host")
    return url


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _checked(
    what: str, *, min_len: int, max_len: int, pattern: str | None = None, why: str = ""
) -> BeforeValidator:
    """The constraints of a secret, checked by a validator (422 when not met): stated as
    constraints they would show in the answer's schema too, which holds ``**********``."""
    rule = re.compile(pattern) if pattern is not None else None

    def check(v: object) -> object:
        if isinstance(v, str):
            if not min_len <= len(v) <= max_len:
                raise ValueError(f"{what}: {min_len} to {max_len} characters")
            if rule is not None and not rule.fullmatch(v):
                raise ValueError(f"{what}: {why}")
        return v

    return BeforeValidator(check)


def _asked(min_len: int, max_len: int, pattern: str | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {
        "type": "string",
        "minLength": min_len,
        "maxLength": max_len,
        "format": "password",
        "writeOnly": True,
    }
    if pattern is not None:
        schema["pattern"] = pattern
    return WithJsonSchema(schema, mode="validation")


def _shown(what: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "description": f"{what}, shown as {REDACTED}"}, mode="serialization"
    )


TOKEN_WHY = "not a bot token (digits:letters, as BotFather gives it)"  # noqa: S105
HmacSecret = Annotated[
    SecretStr,
    _checked("the HMAC-SHA256 key", min_len=16, max_len=256),
    _asked(16, 256),
    _shown("the HMAC-SHA256 key of the signature"),
]
BotToken = Annotated[
    SecretStr,
    _checked("bot_token", min_len=12, max_len=130, pattern=BOT_TOKEN_PATTERN, why=TOKEN_WHY),
    _asked(12, 130, BOT_TOKEN_PATTERN),
    _shown("the bot's token"),
]
AppriseUrl = Annotated[
    SecretStr,
    _checked("the Apprise URL", min_len=4, max_len=MAX_URL_CHARS),
    _asked(4, MAX_URL_CHARS),
    _shown("the Apprise URL"),
]


class WebhookChannel(_Strict):
    type: Literal["webhook"]
    url: str = Field(
        max_length=MAX_URL_CHARS,
        json_schema_extra={"pattern": URL_PATTERN},
        description="http(s) URL the alert is POSTed to (checked when the rule is created)",
    )
    secret: HmacSecret

    @field_serializer("secret", when_used="json")
    def _secret(self, value: SecretStr, info: SerializationInfo) -> str:
        return _reveal(value, info)


class TelegramChannel(_Strict):
    type: Literal["telegram"]
    bot_token: BotToken
    chat_id: str = Field(
        pattern=r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32})$",
        description="a chat id (as a string), or @channelusername",
    )

    @field_serializer("bot_token", when_used="json")
    def _token(self, value: SecretStr, info: SerializationInfo) -> str:
        return _reveal(value, info)


class AppriseChannel(_Strict):
    """Any Apprise URL (``mailto://``, ``discord://``...); needs the optional ``apprise``
    package in the sending processes."""

    type: Literal["apprise"]
    url: AppriseUrl

    @field_serializer("url", when_used="json")
    def _url(self, value: SecretStr, info: SerializationInfo) -> str:
        return _reveal(value, info)


Channel = Annotated[WebhookChannel | TelegramChannel | AppriseChannel, Field(discriminator="type")]


Symbols = Annotated[
    list[Annotated[str, Field(max_length=40, json_schema_extra={"pattern": SYMBOL_PATTERN})]]
    | None,
    Field(
        default=None,
        min_length=1,
        max_length=MAX_SYMBOLS,
        description="only these symbols (default: every one)",
    ),
]
Timeframe = Annotated[str, Field(max_length=10, json_schema_extra={"enum": list(TIMEFRAME_MS)})]
Exchange = Annotated[str, Field(max_length=20, json_schema_extra={"enum": list(SUPPORTED_MARKETS)})]


class _Rule(_Strict):
    name: str | None = Field(default=None, max_length=100)
    channel: Channel
    symbols: Symbols = None


class SignalChangeRule(_Rule):
    """A symbol's recommendation changed to one of ``to``."""

    kind: Literal["signal_change"]
    timeframes: list[Timeframe] | None = Field(
        default=None, min_length=1, max_length=len(TIMEFRAME_MS)
    )
    to: list[Recommendation] = Field(default=["BUY", "SELL"], min_length=1, max_length=3)
    min_confidence: float = Field(0.0, ge=0, le=1, description="the new analysis's confidence")
    min_alignment: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="the timeframes' alignment in the new signal's direction (+alignment "
        "for BUY, -alignment for SELL; a HOLD has none, so it never passes)",
    )


class FundingRule(_Rule):
    """A funding rate above a threshold (absolute or annualised), or its sign flipping."""

    kind: Literal["funding"]
    exchanges: list[Exchange] | None = Field(default=None, min_length=1, max_length=10)
    abs_rate_above: float | None = Field(default=None, ge=0, le=1, description="|rate| > this")
    apr_above: float | None = Field(
        default=None, ge=-1e6, le=1e6, description="APR (percent) > this"
    )
    sign_flip: bool = Field(False, description="the rate changed sign since the last table")


class ArbitrageRule(_Rule):
    """A cross-exchange funding spread (APR, percent) above a threshold."""

    kind: Literal["arbitrage"]
    spread_apr_above: float = Field(ge=0, le=1e6)
    max_price_gap_pct: float | None = Field(
        default=None, ge=0, le=100, description="|price gap| between the legs <= this"
    )


class StaleRule(_Rule):
    """A symbol's analysis older than ``older_than_s``, or the exchange's breaker open."""

    kind: Literal["stale"]
    older_than_s: float | None = Field(default=None, gt=0, le=30 * 86400)
    breaker_open: bool = False


RuleSpec = Annotated[
    SignalChangeRule | FundingRule | ArbitrageRule | StaleRule, Field(discriminator="kind")
]
RULE_SPEC: TypeAdapter[SignalChangeRule | FundingRule | ArbitrageRule | StaleRule] = TypeAdapter(
    RuleSpec
)


class StoredRule(BaseModel):
    """A rule as stored and served: the spec and what the server gave it."""

    id: str
    created_at_ms: int
    rule: RuleSpec

    def dump(self, *, reveal: bool = False) -> dict[str, Any]:
        return self.model_dump(mode="json", context={"reveal": reveal})

    def stored_json(self) -> str:
        return self.model_dump_json(context={"reveal": True})


def new_rule_id() -> str:
    return "r_" + secrets.token_hex(8)


RULE_ID_PATTERN = r"^r_[0-9a-f]{16}$"


def _canonical(symbols: list[str] | None) -> list[str] | None:
    if symbols is None:
        return None
    return list(dict.fromkeys(normalize_symbol(s) for s in symbols))


def _names(values: list[str] | None, known: tuple[str, ...] | list[str], what: str) -> None:
    for v in values or []:
        if v not in known:
            raise InvalidInput(f"{what}: {v[:20]!r} is not one of {', '.join(known)}")


def checked_rule(spec: RuleSpec) -> RuleSpec:
    """The rule with canonical symbols, if it makes sense; InvalidInput (400) otherwise.
    (Whether its URL's host may be reached is :mod:`perpwatch.alerts.destinations`'.)"""
    if isinstance(spec.channel, WebhookChannel):
        spec.channel.url = check_http_url(spec.channel.url)
    if isinstance(spec, SignalChangeRule):
        _names(spec.timeframes, list(TIMEFRAME_MS), "timeframes")
    if isinstance(spec, FundingRule):
        _names(spec.exchanges, SUPPORTED_MARKETS, "exchanges")
        if spec.abs_rate_above is None and spec.apr_above is None and not spec.sign_flip:
            raise InvalidInput("a funding rule needs abs_rate_above, apr_above or sign_flip: true")
    if isinstance(spec, StaleRule) and spec.older_than_s is None and not spec.breaker_open:
        raise InvalidInput("a stale rule needs older_than_s or breaker_open: true")
    return spec.model_copy(update={"symbols": _canonical(spec.symbols)})
