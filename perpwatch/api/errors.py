"""perpwatch errors -> HTTP, in one place. No stack trace ever reaches a client.

Every error answers in the envelope of its area: ``/funding_monitor`` uses
``{"status": "error", "message", "timestamp"}``, everything else
``{"code": 0, "msg", "data": null}``. Client strings are never echoed raw
(see :mod:`perpwatch.api.logsafe`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from perpwatch.api.envelope import error
from perpwatch.api.logsafe import clip
from perpwatch.errors import (
    DataNotAvailable,
    InvalidInput,
    PerpwatchError,
    RateLimited,
    UnknownSymbol,
)
from perpwatch.scheduler.hama_scheduler import RunInProgress
from perpwatch.timeutil import iso_s

logger = logging.getLogger(__name__)

FUNDING_AREA = "/funding_monitor"
_MAX_VALIDATION_ERRORS = 5


def status_for(e: PerpwatchError) -> int:
    if isinstance(e, InvalidInput):
        return 400
    if isinstance(e, UnknownSymbol):
        return 404
    if isinstance(e, RunInProgress):
        return 409
    if isinstance(e, DataNotAvailable):
        return 503
    return 500


def _validation_message(e: RequestValidationError) -> str:
    errors = e.errors()
    if errors and errors[0].get("type") == "json_invalid":
        loc = errors[0].get("loc", ())
        where = f" at character {loc[-1]}" if loc else ""
        detail = clip((errors[0].get("ctx") or {}).get("error", "invalid"), 100)
        return f"invalid request: the body is not valid JSON{where}: {detail}"
    parts = []
    for err in errors[:_MAX_VALIDATION_ERRORS]:
        loc = ".".join(clip(x, 40) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {clip(err.get('msg', 'invalid'), 200)}")
    return "invalid request: " + "; ".join(parts)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "options", "head", "trace"})


def _method_table(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "allow_table", None
    )
    if table is None:
        table = []
        for path, item in app.openapi().get("paths", {}).items():
            methods = {m.upper() for m in item if m in _HTTP_METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            table.append((compile_path(path)[0], frozenset(methods)))
        app.state.allow_table = table
    return table


def allowed_methods(request: Request) -> str:
    """Every method the API serves at this path. (Starlette's 405 names only the first
    matching route's: ``Allow: GET`` for ``/api/tasks/{id}``, which also has DELETE.)"""
    methods: set[str] = set()
    for regex, route_methods in _method_table(request.app):
        if regex.match(request.url.path):
            methods |= route_methods
    return ", ".join(sorted(methods))


def _http_message(request: Request, e: StarletteHTTPException) -> str:
    if e.status_code == 404 and e.detail == "Not Found":
        return f"not found: no such path {clip(request.url.path)}"
    if e.status_code == 405 and e.detail == "Method Not Allowed":
        allowed = (e.headers or {}).get("Allow", "")
        return f"method {clip(request.method, 20)} not allowed here; use {allowed}"
    if e.status_code == 400 and e.detail == "There was an error parsing the body":
        return "invalid request: the body is not valid JSON (or not UTF-8)"
    return str(e.detail)


def error_response(
    path: str, status: int, msg: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The error envelope of the area ``path`` belongs to."""
    if path == FUNDING_AREA or path.startswith(FUNDING_AREA + "/"):
        return JSONResponse(
            {"status": "error", "message": msg, "timestamp": iso_s(time.time())},
            status_code=status,
            headers=dict(headers) if headers else None,
        )
    return error(status, msg, dict(headers) if headers else None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PerpwatchError)
    async def perpwatch_error(request: Request, e: PerpwatchError) -> JSONResponse:
        status = status_for(e)
        headers = None
        if isinstance(e, RateLimited) and e.retry_after_s is not None:
            headers = {"Retry-After": str(int(e.retry_after_s + 0.999))}
        if status >= 500:
            logger.error(
                "%s %s failed: %s", clip(request.method, 20), clip(request.url.path), clip(e, 300)
            )
        return error_response(request.url.path, status, str(e), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: RequestValidationError) -> JSONResponse:
        return error_response(request.url.path, 422, _validation_message(e))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        headers = dict(e.headers or {})
        if e.status_code == 405:
            headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
            e.headers = headers
        msg = _http_message(request, e)
        return error_response(request.url.path, e.status_code, msg, headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        logger.exception(
            "%s %s: unexpected error", clip(request.method, 20), clip(request.url.path)
        )
        return error_response(request.url.path, 500, "internal error; see the server log")
