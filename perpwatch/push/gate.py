"""Who may hold a push connection: the API key when one is set, and connection limits.

Reads are open, as in REST. With ``API_KEY`` set, a client may present it as
``?token=`` or ``Authorization: Bearer``; a wrong one is refused, and a client without it
is held to ``PUSH_MAX_ANON_CONNECTIONS_PER_IP`` connections per address. Without
``API_KEY`` nothing is protected (credentials are ignored, as in REST) and there is no
per-address limit. Every process holds at most ``PUSH_MAX_CONNECTIONS``.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

Credential = Literal["key", "anonymous", "wrong", "open"]


def credential(key_digest: bytes | None, token: str | None, header: str | None) -> Credential:
    """What the client presented: the valid key, nothing, or something wrong; ``open``
    when no key is set (whatever was sent)."""
    if key_digest is None:
        return "open"
    presented: str | None = token
    if presented is None and header is not None:
        scheme, _, value = header.strip().partition(" ")
        presented = value.strip() if scheme.lower() == "bearer" else header.strip()
    if presented is None or presented == "":
        return "anonymous"
    digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    return "key" if hmac.compare_digest(digest, key_digest) else "wrong"


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str


class Gate:
    def __init__(self, *, max_anon_per_ip: int, max_connections: int) -> None:
        self.max_anon_per_ip = max_anon_per_ip
        self.max_connections = max_connections
        self.total = 0
        self._anon: collections.Counter[str] = collections.Counter()

    def admit(self, ip: str, cred: Credential) -> Refusal | None:
        """Take a place for a connection (release it with :meth:`leave`), or say why not."""
        if cred == "wrong":
            return Refusal(401, "wrong API key")
        if self.total >= self.max_connections:
            return Refusal(503, f"this process holds {self.max_connections} push connections")
        if cred == "anonymous":
            if self._anon[ip] >= self.max_anon_per_ip:
                return Refusal(
                    429,
                    f"at most {self.max_anon_per_ip} connections per address without the API key",
                )
            self._anon[ip] += 1
        self.total += 1
        return None

    def leave(self, ip: str, cred: Credential) -> None:
        self.total -= 1
        if cred == "anonymous":
            self._anon[ip] -= 1
            if self._anon[ip] <= 0:
                del self._anon[ip]
