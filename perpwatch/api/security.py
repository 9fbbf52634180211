"""Access control and per-client throttling of the calls that change state or cost weight.

* ``API_KEY`` unset: every endpoint is open (bind to loopback only; see
  :mod:`perpwatch.api.bind`).
* ``API_KEY`` set: state-changing and weight-costing calls need
  ``Authorization: Bearer <API_KEY>``, compared in constant time; otherwise 401 with
  ``WWW-Authenticate: Bearer``. Reads stay open. The key is never logged or echoed.
* Costly calls take a token from the caller's bucket (:mod:`perpwatch.api.rate_limit`);
  the caller is the key holder when the request carries the valid key, else its IP.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import cast

from fastapi import Request
from starlette.exceptions import HTTPException

from perpwatch.api.rate_limit import TokenBucketLimiter
from perpwatch.settings import Settings

KEY_CLIENT = "api-key"
_CHALLENGE = 'Bearer realm="perpwatch"'


@dataclass(frozen=True, slots=True)
class ApiSecurity:
    key_digest: bytes | None  # sha256 of API_KEY; the key itself is not kept here
    limiter: TokenBucketLimiter | None

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiSecurity:
        key = settings.api_key
        digest = None if key is None else _digest(key.get_secret_value().encode("utf-8"))
        limiter = None
        if settings.submit_rate_per_min > 0:
            limiter = TokenBucketLimiter(
                rate_per_min=settings.submit_rate_per_min,
                burst=settings.submit_burst,
                max_clients=settings.rate_limit_max_clients,
            )
        return cls(digest, limiter)

    @property
    def auth_enabled(self) -> bool:
        return self.key_digest is not None


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def get_security(request: Request) -> ApiSecurity:
    return cast(ApiSecurity, request.app.state.security)


class Unauthorized(HTTPException):
    def __init__(self, detail: str, error: str | None = None) -> None:
        challenge = _CHALLENGE if error is None else f'{_CHALLENGE}, error="{error}"'
        super().__init__(401, detail, headers={"WWW-Authenticate": challenge})


class TooManyRequests(HTTPException):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            429,
            f"too many costly requests from this client; retry in {retry_after_s} s",
            headers={"Retry-After": str(retry_after_s)},
        )


def _presented_key(request: Request) -> bytes | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token.encode("latin-1")  # header values are decoded as latin-1: this is lossless


def is_authenticated(request: Request) -> bool:
    """Whether the request carries the valid API key (always False without ``API_KEY``)."""
    expected = get_security(request).key_digest
    presented = _presented_key(request)
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(_digest(presented), expected)


def ensure_authorized(request: Request) -> None:
    """Raise 401 unless ``API_KEY`` is unset or the request carries it."""
    if not get_security(request).auth_enabled or is_authenticated(request):
        return
    if "authorization" not in request.headers:
        raise Unauthorized("this call needs the API key: send Authorization: Bearer <API_KEY>")
    raise Unauthorized("wrong API key", error="invalid_token")


async def require_api_key(request: Request) -> None:
    """Route dependency form of :func:`ensure_authorized`."""
    ensure_authorized(request)


def client_id(request: Request) -> str:
    """Whom a rate limit applies to: the key holder, else the remote address."""
    if is_authenticated(request):
        return KEY_CLIENT
    host = request.client.host if request.client is not None else "unknown"
    return f"ip:{host}"


def take_token(request: Request) -> str | None:
    """Take a token for a costly call (429 if none is left); the client id, for a refund."""
    limiter = get_security(request).limiter
    if limiter is None:
        return None
    client = client_id(request)
    wait = limiter.take(client)
    if wait is not None:
        raise TooManyRequests(wait)
    return client


def refund_token(request: Request, client: str | None) -> None:
    limiter = get_security(request).limiter
    if limiter is not None and client is not None:
        limiter.refund(client)


def has_token(request: Request) -> bool:
    limiter = get_security(request).limiter
    return limiter is None or limiter.retry_after(client_id(request)) is None


def charge_token(request: Request) -> None:
    """Charge a call whose cost is only known after it ran (a cache miss)."""
    limiter = get_security(request).limiter
    if limiter is not None:
        limiter.charge(client_id(request))


def raise_rate_limited(request: Request) -> None:
    limiter = get_security(request).limiter
    wait = None if limiter is None else limiter.retry_after(client_id(request))
    if wait is not None:
        raise TooManyRequests(wait)
