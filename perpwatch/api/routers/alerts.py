"""``/api/alerts``: alert rules and the recent alerts' delivery.

Changing rules (``POST``, ``DELETE``) and sending a test need the API key when
``API_KEY`` is set; reading is open. Secrets are never echoed (``**********``). A rule
that does not validate is answered 4xx and nothing is stored.
"""

from __future__ import annotations

import re
import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from perpwatch.alerts.channels.apprise import apprise_available
from perpwatch.alerts.destinations import check_rule
from perpwatch.alerts.rules import (
    RULE_ID_PATTERN,
    AppriseChannel,
    RuleSpec,
    StoredRule,
    checked_rule,
    new_rule_id,
)
from perpwatch.alerts.service import Alerts
from perpwatch.alerts.store import TooManyRules
from perpwatch.api.deps import AuthRequired, JsonBody, RuntimeDep
from perpwatch.api.envelope import Envelope, error, ok, ok_model
from perpwatch.api.logsafe import clip
from perpwatch.api.openapi import AUTH_REQUIRED
from perpwatch.api.responses import errors
from perpwatch.api.schemas.alerts import AlertHistory, RuleList, TestOutcome
from perpwatch.errors import CacheUnavailable, DataNotAvailable, DeliveryError, InvalidInput
from perpwatch.runtime import Runtime

router = APIRouter(prefix="/api/alerts", tags=["alerts"])

_RULE_ID = re.compile(RULE_ID_PATTERN)


def _alerts(runtime: Runtime) -> Alerts:
    if runtime.alerts is None:
        raise DataNotAvailable("alerts are off here (ALERTS_ENABLED=false)")
    return runtime.alerts


def _not_found(rule_id: str) -> JSONResponse:
    return error(404, f"alert rule not found: {clip(rule_id)}")


async def _rule(alerts: Alerts, rule_id: str) -> StoredRule | None:
    if not _RULE_ID.match(rule_id):
        return None
    return await alerts.rules.get(rule_id)


@router.post(
    "/rules",
    status_code=201,
    response_model=Envelope[StoredRule],
    responses=errors(400, 401, 409, 415, 422, 503),
    dependencies=[AuthRequired, JsonBody],
    openapi_extra=AUTH_REQUIRED,
    summary="Add an alert rule (signal_change, funding, arbitrage or stale)",
)
async def add_rule(body: RuleSpec, runtime: RuntimeDep) -> JSONResponse:
    """400 for a rule that makes no sense or a URL it may not reach (private addresses
    need ``ALERT_ALLOW_PRIVATE_URLS=true``), 409 past ``ALERT_MAX_RULES``, 503 while
    Redis does not answer (a rule kept in one replica's memory would reach no other)."""
    alerts = _alerts(runtime)
    spec = checked_rule(body)
    check_rule(spec, allow_private=runtime.settings.alert_allow_private_urls)
    if isinstance(spec.channel, AppriseChannel) and not apprise_available():
        raise InvalidInput("the apprise channel needs the apprise package, not installed here")
    rule = StoredRule(id=new_rule_id(), created_at_ms=int(time.time() * 1000), rule=spec)
    try:
        await alerts.rules.add(rule)
    except CacheUnavailable as e:
        raise DataNotAvailable("the rule was not stored: Redis does not answer") from e
    except TooManyRules:
        return error(409, f"at most {runtime.settings.alert_max_rules} rules (ALERT_MAX_RULES)")
    return ok(rule.dump(), "created", status_code=201)


@router.get(
    "/rules",
    response_model=Envelope[RuleList],
    responses=errors(503),
    summary="Every alert rule, oldest first (secrets redacted)",
)
async def list_rules(runtime: RuntimeDep) -> JSONResponse:
    rules = await _alerts(runtime).rules.all()
    return ok({"count": len(rules), "rules": [r.dump() for r in rules]})


@router.get(
    "/rules/{rule_id}",
    response_model=Envelope[StoredRule],
    responses=errors(404, 503),
    summary="One alert rule (secrets redacted)",
)
async def get_rule(rule_id: str, runtime: RuntimeDep) -> JSONResponse:
    rule = await _rule(_alerts(runtime), rule_id)
    return _not_found(rule_id) if rule is None else ok(rule.dump())


@router.delete(
    "/rules/{rule_id}",
    response_model=Envelope[StoredRule],
    responses=errors(401, 404, 503),
    dependencies=[AuthRequired],
    openapi_extra=AUTH_REQUIRED,
    summary="Delete an alert rule (its queued alerts are dropped, not sent)",
)
async def delete_rule(rule_id: str, runtime: RuntimeDep) -> JSONResponse:
    alerts = _alerts(runtime)
    rule = await _rule(alerts, rule_id)
    try:
        deleted = rule is not None and await alerts.rules.delete(rule_id)
    except CacheUnavailable as e:
        raise DataNotAvailable("the rule was not deleted: Redis does not answer") from e
    if rule is None or not deleted:
        return _not_found(rule_id)
    return ok(rule.dump(), "deleted")


@router.post(
    "/rules/{rule_id}/test",
    response_model=Envelope[TestOutcome],
    responses=errors(401, 404, 503),
    dependencies=[AuthRequired],
    openapi_extra=AUTH_REQUIRED,
    summary="Send a test message through the rule's channel now (`perpwatch alerts test`)",
)
async def test_rule(rule_id: str, runtime: RuntimeDep) -> JSONResponse:
    alerts = _alerts(runtime)
    rule = await _rule(alerts, rule_id)
    if rule is None:
        return _not_found(rule_id)
    status: int | None = None
    failure: str | None = None
    try:
        status = await alerts.send_test(rule)
    except DeliveryError as e:
        status, failure = e.status, str(e)[:300]
    outcome = TestOutcome(
        rule_id=rule.id,
        channel=rule.rule.channel.type,
        delivered=failure is None,
        status=status,
        error=failure,
    )
    return ok_model(outcome, "delivered" if failure is None else "not delivered")


@router.get(
    "/history",
    response_model=Envelope[AlertHistory],
    responses=errors(422, 503),
    summary="The recent alerts, newest first, with their delivery state and attempts",
)
async def history(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> JSONResponse:
    try:
        records = await _alerts(runtime).outbox.history(limit)
    except CacheUnavailable as e:
        raise DataNotAvailable("the alert history is unreadable now (Redis)") from e
    view = AlertHistory(count=len(records), alerts=records)
    return ok_model(view)
