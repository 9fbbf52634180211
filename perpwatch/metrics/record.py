"""The small functions domain code calls where a value is produced. Each is a label
lookup and one increment or set, so any process may call them on its hot paths; none
raises (a metric must never break the work it measures)."""

from __future__ import annotations

from typing import Literal

from perpwatch.metrics.registry import metrics

ExchangeOutcome = Literal["ok", "error", "rejected", "rate_limited", "not_sent"]
TaskState = Literal["completed", "failed", "cancelled"]


def refresh_finished(*, timeframe: str, duration_s: float, ok: int, failed: int) -> None:
    """A refresh run (a whole cycle) ended: its duration and its symbols' outcomes."""
    m = metrics()
    m.refresh_duration.labels(timeframe).observe(max(0.0, duration_s))
    if ok:
        m.refresh_symbols.labels(timeframe, "ok").inc(ok)
    if failed:
        m.refresh_symbols.labels(timeframe, "failed").inc(failed)


def signal_changed(timeframe: str, to: str) -> None:
    metrics().signal_changes.labels(timeframe, to).inc()


def exchange_request(exchange: str, outcome: ExchangeOutcome) -> None:
    m = metrics()
    m.exchange_requests.labels(exchange, outcome).inc()
    if outcome == "rate_limited":
        m.exchange_rate_limited.labels(exchange).inc()


def exchange_weight_used(exchange: str, used: float) -> None:
    metrics().exchange_weight_used.labels(exchange).set(used)


def exchange_breaker(exchange: str, *, open_: bool) -> None:
    metrics().exchange_breaker_open.labels(exchange).set(1.0 if open_ else 0.0)


def task_finished(operation: str, state: TaskState) -> None:
    metrics().tasks.labels(operation, state).inc()


def funding_check(outcome: Literal["ok", "failed"]) -> None:
    metrics().funding_checks.labels(outcome).inc()


def leader(is_leader: bool) -> None:
    metrics().is_leader.set(1.0 if is_leader else 0.0)


def loop_lag(role: str, seconds: float) -> None:
    metrics().loop_lag.labels(role).set(seconds)


AlertOutcome = Literal["queued", "cooldown", "delivered", "retried", "failed", "dropped"]


def alert(kind: str, outcome: AlertOutcome) -> None:
    metrics().alerts.labels(kind, outcome).inc()


def alert_dropped() -> None:
    metrics().alerts_dropped.inc()


def alert_outbox_depth(depth: int) -> None:
    metrics().alert_outbox_depth.set(float(depth))
