"""The response envelope existing clients expect.

Success ``{"code": 1, "msg": "success", "data": ...}``; error
``{"code": 0, "msg": "<clear message>", "data": null}`` with a proper HTTP status.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.responses import Response

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    code: int
    msg: str
    data: T | None


class ErrorEnvelope(BaseModel):
    code: int = 0
    msg: str
    data: None = None


def ok(data: Any, msg: str = "success", status_code: int = 200) -> JSONResponse:
    return JSONResponse({"code": 1, "msg": msg, "data": data}, status_code=status_code)


def ok_model(data: BaseModel, msg: str = "success", status_code: int = 200) -> JSONResponse:
    """The success envelope around a response model, dumped as JSON (``None`` stays
    ``null``, floats stay floats): the typed path; :func:`ok` is for shapes with no model."""
    return ok(data.model_dump(mode="json"), msg, status_code)


def ok_raw(data_json: str, msg: str = "success") -> Response:
    """The success envelope around ``data`` that is JSON text already (a cache hit): the
    bytes are joined, not decoded and encoded again."""
    body = '{"code":1,"msg":' + json.dumps(msg) + ',"data":' + data_json + "}"
    return Response(body.encode(), media_type="application/json")


def error(status_code: int, msg: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"code": 0, "msg": msg, "data": None}, status_code=status_code, headers=headers
    )
