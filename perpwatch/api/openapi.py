"""The OpenAPI schema states who may call what, as configured.

Routes mark themselves with ``openapi_extra=AUTH_REQUIRED`` (the API key is always needed
when ``API_KEY`` is set) or ``AUTH_CONDITIONAL`` (needed for some inputs only, e.g.
``force_refresh``; anonymous calls are fine otherwise). With ``API_KEY`` set these become a
``bearerAuth`` security scheme and ``security`` requirements; without it the markers and
the 401 responses are dropped, because nothing is protected then.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

AUTH_MARK = "x-perpwatch-auth"
AUTH_REQUIRED: dict[str, Any] = {AUTH_MARK: "required"}
AUTH_CONDITIONAL: dict[str, Any] = {AUTH_MARK: "conditional"}
SCHEME = "bearerAuth"


def apply_security(schema: dict[str, Any], *, auth_enabled: bool) -> dict[str, Any]:
    """Turn the auth markers of ``schema`` (in place) into security requirements."""
    used = False
    for path_item in schema.get("paths", {}).values():
        for op in path_item.values():
            if not isinstance(op, dict):
                continue
            mark = op.pop(AUTH_MARK, None)
            if mark is None:
                continue
            if not auth_enabled:
                op.get("responses", {}).pop("401", None)
                continue
            used = True
            op["security"] = [{SCHEME: []}] if mark == "required" else [{}, {SCHEME: []}]
    if used:
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "Authorization: Bearer <API_KEY>",
        }
    return schema


class PerpwatchAPI(FastAPI):
    """FastAPI whose generated schema carries the configured security requirements, with an
    optional ``front`` layer that sees every request before the framework does (the hit
    fast path: it answers plain cache hits and hands the rest to :meth:`framework`)."""

    auth_enabled: bool = False
    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app without its front layer: FastAPI, its middleware and its routes."""
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            self.openapi_schema = apply_security(super().openapi(), auth_enabled=self.auth_enabled)
        return self.openapi_schema
