"""The Bot API's ``sendMessage``: ``POST {TELEGRAM_API_URL}/bot<token>/sendMessage``.

The answer is ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code",
"description", "parameters": {"retry_after"}}``; a 429's ``retry_after`` is honoured.
The base URL is a setting (trusted), so it is not judged like a rule's URL; the token
is never logged.
"""

from __future__ import annotations

from typing import Any

import httpx

from perpwatch.alerts.channels.http_errors import for_status, for_transport, retry_after_s
from perpwatch.alerts.models import AlertPayload
from perpwatch.alerts.rules import TelegramChannel
from perpwatch.errors import DeliveryRateLimited, TemporaryDeliveryError

MAX_TEXT_CHARS = 4096  # the Bot API's limit for one message


def message_text(payload: AlertPayload) -> str:
    lines = [payload.title, payload.text]
    if payload.test:
        lines.insert(0, "[test]")
    return "\n".join(lines)[:MAX_TEXT_CHARS]


async def send_telegram(
    client: httpx.AsyncClient, channel: TelegramChannel, payload: AlertPayload, *, api_url: str
) -> int:
    url = f"{api_url}/bot{channel.bot_token.get_secret_value()}/sendMessage"
    body = {
        "chat_id": channel.chat_id,
        "text": message_text(payload),
        "disable_web_page_preview": True,
    }
    try:
        response = await client.post(url, json=body, follow_redirects=False)
    except httpx.HTTPError as e:
        raise for_transport(e) from e  # the exception text never holds the URL's token
    answer: Any
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and answer.get("ok") is True and response.is_success:
        return response.status_code
    if not isinstance(answer, dict):
        error = for_status(
            response.status_code,
            response.reason_phrase,
            retry_after=retry_after_s(response.headers.get("retry-after")),
        )
        raise error or TemporaryDeliveryError(
            "the Bot API answered something else than JSON", status=response.status_code
        )
    code = answer.get("error_code")
    status = code if isinstance(code, int) else response.status_code
    description = str(answer.get("description", "no description"))[:200]
    params = answer.get("parameters")
    retry = params.get("retry_after") if isinstance(params, dict) else None
    if status == 429:
        wait = float(retry) if isinstance(retry, int | float) else None
        raise DeliveryRateLimited(f"Bot API 429: {description}", retry_after_s=wait)
    error = for_status(status, f"Bot API: {description}", retry_after=None)
    raise error or TemporaryDeliveryError(f"Bot API: {description}", status=status)
