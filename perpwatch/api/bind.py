"""``perpwatch serve`` binds beyond loopback only with an API key (or an explicit opt-out)."""

from __future__ import annotations

import ipaddress

from perpwatch.errors import ConfigError
from perpwatch.settings import Settings

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost. Anything else (0.0.0.0, ::, a name) may be reachable."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, *, api_key_set: bool, allow_insecure: bool) -> str | None:
    """Why binding ``host`` is refused, in one line; None when it is allowed."""
    if is_loopback(host) or api_key_set or allow_insecure:
        return None
    return (
        f"refusing to bind {host!r} without API_KEY: anyone who can reach it could change "
        "state; set API_KEY, bind 127.0.0.1, or set ALLOW_INSECURE_BIND=true"
    )


def check_bind(settings: Settings) -> None:
    """Raise :class:`ConfigError` (the CLI prints it and exits with 2) if the bind is unsafe."""
    refusal = bind_refusal(
        settings.host,
        api_key_set=settings.api_key is not None,
        allow_insecure=settings.allow_insecure_bind,
    )
    if refusal is not None:
        raise ConfigError(refusal)
