"""Any Apprise URL, when the optional ``apprise`` package is installed (it is not a
dependency of perpwatch: ``uv pip install apprise``). Without it, a rule with this
channel is refused when created (400), and a queued one fails permanently."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from typing import Any

from perpwatch.alerts.models import AlertPayload
from perpwatch.alerts.rules import AppriseChannel
from perpwatch.errors import PermanentDeliveryError, TemporaryDeliveryError


def apprise_available() -> bool:
    return importlib.util.find_spec("apprise") is not None


async def send_apprise(channel: AppriseChannel, payload: AlertPayload) -> int:
    if not apprise_available():
        raise PermanentDeliveryError("the apprise package is not installed")
    module: Any = importlib.import_module("apprise")

    def notify() -> bool:
        sender = module.Apprise()
        if not sender.add(channel.url.get_secret_value()):
            raise PermanentDeliveryError("apprise does not accept this URL")
        return bool(sender.notify(body=payload.text, title=payload.title))

    if not await asyncio.to_thread(notify):
        raise TemporaryDeliveryError("apprise could not notify (see its log)")
    return 200
