"""The shapes of an alert: what matching proposes, what a receiver gets, what the outbox
keeps about its delivery."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, Field

from perpwatch.alerts.rules import RuleKind

AlertState = Literal["pending", "delivered", "failed", "dropped"]


class Candidate(BaseModel):
    """An alert a rule proposes for one event (pure matching's output).

    ``change`` names the kind of change for the cooldown (``to:BUY``, ``sign_flip``...);
    ``source`` names the event it came from (``signals:1234``), so the same event read
    twice gives the same alert id."""

    rule_id: str
    kind: RuleKind
    source: str
    change: str
    symbol: str | None = None
    timeframe: str | None = None
    exchange: str | None = None
    title: str
    text: str
    data: dict[str, Any] = Field(description="the facts that triggered it, as computed")

    @property
    def alert_id(self) -> str:
        """Deterministic: the same rule, event and subject always give the same id."""
        parts = (
            self.rule_id,
            self.source,
            self.symbol or "",
            self.timeframe or "",
            self.exchange or "",
            self.change,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    @property
    def cooldown_digest(self) -> str:
        """One cooldown per (rule, symbol, timeframe, exchange, kind of change)."""
        parts = (
            self.rule_id,
            self.symbol or "",
            self.timeframe or "",
            self.exchange or "",
            self.change,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class AlertPayload(BaseModel):
    """The JSON body a webhook receives (and what a Telegram message is written from)."""

    id: str = Field(description="the event id; the same on every retry (X-Perpwatch-Event-Id)")
    rule_id: str
    kind: RuleKind
    symbol: str | None
    timeframe: str | None
    exchange: str | None
    title: str
    text: str
    data: dict[str, Any]
    created_at: str
    created_at_ms: int
    test: bool = Field(default=False, description="true for `perpwatch alerts test`")

    @classmethod
    def of(cls, candidate: Candidate, *, created_at_ms: int, created_at: str) -> AlertPayload:
        return cls(
            id=candidate.alert_id,
            rule_id=candidate.rule_id,
            kind=candidate.kind,
            symbol=candidate.symbol,
            timeframe=candidate.timeframe,
            exchange=candidate.exchange,
            title=candidate.title,
            text=candidate.text,
            data=candidate.data,
            created_at=created_at,
            created_at_ms=created_at_ms,
        )


class AlertRecord(BaseModel):
    """An alert in the outbox (and in the history): its payload and its delivery state."""

    id: str
    rule_id: str
    state: AlertState
    attempts: int = 0
    created_at_ms: int
    next_attempt_ms: int | None = None
    delivered_at_ms: int | None = None
    last_status: int | None = Field(default=None, description="the receiver's last HTTP status")
    last_error: str | None = None
    payload: AlertPayload
