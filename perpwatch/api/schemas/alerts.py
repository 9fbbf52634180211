"""Response shapes of ``/api/alerts`` (the rules and records are the alerts' own models)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from perpwatch.alerts.models import AlertRecord
from perpwatch.alerts.rules import StoredRule


class RuleList(BaseModel):
    count: int
    rules: list[StoredRule] = Field(description="oldest first; secrets shown as **********")


class AlertHistory(BaseModel):
    count: int
    alerts: list[AlertRecord] = Field(description="newest first, with their delivery state")


class TestOutcome(BaseModel):
    rule_id: str
    channel: str
    delivered: bool
    status: int | None = Field(description="the receiver's HTTP status (null: no answer)")
    error: str | None
