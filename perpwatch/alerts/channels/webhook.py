"""A signed JSON POST to the rule's URL.

Headers: ``X-Perpwatch-Event-Id`` (the same on every retry: the receiver dedupes by it),
``X-Perpwatch-Timestamp`` (unix seconds) and ``X-Perpwatch-Signature``
(:mod:`perpwatch.alerts.signing`). Redirects are not followed.
"""

from __future__ import annotations

import httpx

from perpwatch.alerts.channels.http_errors import for_status, for_transport, retry_after_s
from perpwatch.alerts.destinations import check_resolved
from perpwatch.alerts.models import AlertPayload
from perpwatch.alerts.rules import WebhookChannel
from perpwatch.alerts.signing import signature

USER_AGENT = "perpwatch-alerts"


async def send_webhook(
    client: httpx.AsyncClient,
    channel: WebhookChannel,
    payload: AlertPayload,
    *,
    allow_private: bool,
    now_s: float,
) -> int:
    """The receiver's status once it took the alert; a delivery error otherwise."""
    await check_resolved(channel.url, allow_private=allow_private)
    body = payload.model_dump_json().encode()
    timestamp = int(now_s)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Perpwatch-Event-Id": payload.id,
        "X-Perpwatch-Timestamp": str(timestamp),
        "X-Perpwatch-Signature": signature(channel.secret.get_secret_value(), timestamp, body),
    }
    try:
        response = await client.post(
            channel.url, content=body, headers=headers, follow_redirects=False
        )
    except httpx.HTTPError as e:
        raise for_transport(e) from e
    error = for_status(
        response.status_code,
        response.reason_phrase,
        retry_after=retry_after_s(response.headers.get("retry-after")),
    )
    if error is not None:
        raise error
    return response.status_code
