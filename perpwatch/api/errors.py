"""perpwatch errors -> HTTP, in one place. No stack trace ever reaches a client."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from perpwatch.api.envelope import error
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
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


def _error(
    request: Request, status: int, msg: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error envelope of the area the request was for."""
    if request.url.path.startswith("/funding_monitor"):
        return JSONResponse(
            {"status": "error", "message": msg, "timestamp": iso_s(time.time())},
            status_code=status,
            headers=headers,
        )
    return error(status, msg, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PerpwatchError)
    async def perpwatch_error(request: Request, e: PerpwatchError) -> JSONResponse:
        status = status_for(e)
        headers = None
        if isinstance(e, RateLimited) and e.retry_after_s is not None:
            headers = {"Retry-After": str(int(e.retry_after_s + 0.999))}
        if status >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, e)
        return _error(request, status, str(e), headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: RequestValidationError) -> JSONResponse:
        return _error(request, 422, _validation_message(e))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return _error(request, e.status_code, str(e.detail), getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        logger.exception("%s %s: unexpected error", request.method, request.url.path)
        return _error(request, 500, "internal error; see the server log")
