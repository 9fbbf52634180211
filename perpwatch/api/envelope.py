"""The response envelope existing clients expect.

Success ``{"code": 1, "msg": "success", "data": ...}``; error
``{"code": 0, "msg": "<clear message>", "data": null}`` with a proper HTTP status.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.main import IncEx
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


def ok_model(
    data: BaseModel, msg: str = "success", status_code: int = 200, *, exclude: IncEx | None = None
) -> JSONResponse:
    """The success envelope around a response model, dumped as JSON (``None`` stays
    ``null``, floats stay floats): the typed path; :func:`ok` is for shapes with no model.
    ``exclude``: fields left out of this answer (as ``model_dump`` takes them)."""
    return ok(data.model_dump(mode="json", exclude=exclude), msg, status_code)


def envelope_bytes(data_json: str, msg: str = "success") -> bytes:
    """The success envelope around ``data`` that is JSON text already (a cache hit): the
    text is joined, not decoded and encoded again."""
    return ('{"code":1,"msg":' + json.dumps(msg) + ',"data":' + data_json + "}").encode()


def ok_raw(data_json: str, msg: str = "success") -> Response:
    return Response(envelope_bytes(data_json, msg), media_type="application/json")


def error(status_code: int, msg: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"code": 0, "msg": msg, "data": None}, status_code=status_code, headers=headers
    )
