"""Where an alert may be sent: not to this host's or its network's private addresses,
unless ``ALERT_ALLOW_PRIVATE_URLS=true``.

A rule's URL is judged twice: its literal host when the rule is created (an IP literal in
any form ``inet_aton`` reads, ``localhost``), and every address its host resolves to just
before each send, so a name that resolved to a public address at creation and to
``127.0.0.1`` later (DNS rebinding) is refused then. httpx resolves the name once more
when it connects; a resolver that changes its answer within those milliseconds is not
covered (see the README).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from perpwatch.alerts.rules import AppriseChannel, RuleSpec, WebhookChannel
from perpwatch.errors import InvalidInput, PermanentDeliveryError, TemporaryDeliveryError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: IpAddress) -> bool:
    """A global unicast address (not private, loopback, link-local, multicast, reserved,
    unspecified; IPv4-mapped IPv6 judged as the IPv4 it maps)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> IpAddress | None:
    """The address ``host`` names literally (``127.1``, ``2130706433`` and ``[::1]``
    included), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _url_of(spec: RuleSpec) -> str | None:
    channel = spec.channel
    if isinstance(channel, WebhookChannel):
        return channel.url
    if isinstance(channel, AppriseChannel):
        return None  # Apprise URLs name services, not hosts we can judge reliably
    return None


def check_rule(spec: RuleSpec, *, allow_private: bool) -> None:
    """InvalidInput (400) if the rule's URL names a host it may not reach."""
    url = _url_of(spec)
    if url is None or allow_private:
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidInput(
            "the webhook URL names this host (localhost); "
            "set ALERT_ALLOW_PRIVATE_URLS=true to allow it"
        )
    address = literal_address(host)
    if address is not None and not is_public(address):
        raise InvalidInput(
            f"the webhook URL names a private, loopback, link-local or reserved address "
            f"({address}); set ALERT_ALLOW_PRIVATE_URLS=true to allow it"
        )


async def check_resolved(url: str, *, allow_private: bool) -> None:
    """PermanentDeliveryError unless every address ``url``'s host resolves to is public
    (nothing to check with ``allow_private``)."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise TemporaryDeliveryError(f"cannot resolve {host[:100]}: {e}") from e
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not is_public(address):
            raise PermanentDeliveryError(
                f"{host[:100]} resolves to a non-public address ({address}); refused "
                "(ALERT_ALLOW_PRIVATE_URLS=false)"
            )
