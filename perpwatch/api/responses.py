"""The error responses each route declares in the OpenAPI schema (``responses=``).

The handlers return ``JSONResponse`` directly, so these declarations are the only place
the real statuses, shapes and headers are stated; ``tests/api/test_schema_fuzz.py``
checks every answer against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from perpwatch.api.envelope import ErrorEnvelope

_DESCRIPTIONS: dict[int, str] = {
    400: "Bad input (e.g. an invalid symbol name or task parameters)",
    401: "The API key is missing or wrong (only when API_KEY is set)",
    404: "Unknown symbol or task",
    409: "Conflict with the current state (a run in progress, a task already finished)",
    413: "The request body is larger than MAX_BODY_BYTES",
    415: "The body is not declared as application/json",
    422: "Invalid body or query parameters",
    429: "Too many costly calls from this client; wait Retry-After seconds",
    503: "Data not available yet (exchange failure, too little history, shutting down)",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "Bearer",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "seconds until a costly call is accepted again",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}

# what every route can answer: a body over the limit is refused before any route runs
COMMON = (413,)


def errors(*codes: int, model: type[BaseModel] = ErrorEnvelope) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, *COMMON}):
        entry: dict[str, Any] = {"model": model, "description": _DESCRIPTIONS[code]}
        if code in _HEADERS:
            entry["headers"] = _HEADERS[code]
        out[code] = entry
    return out
