"""The dashboard: ``/`` (signals), ``/matrix`` (timeframes), ``/funding``, ``/alerts``,
``/symbol/{symbol}`` and ``/static/…``.

Read-only pages: controls that change anything call the REST API with the key the user
entered, which the API checks as for any other client.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from perpwatch.dashboard.assets import SECURITY_HEADERS, Asset, assets, page

router = APIRouter(include_in_schema=False)

_SYMBOL = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


def _serve(request: Request, asset: Asset) -> Response:
    headers = {**SECURITY_HEADERS, "etag": asset.etag, "cache-control": asset.cache_control}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


async def view_page(request: Request) -> Response:
    """One page for every view: the script picks the view from the path."""
    return _serve(request, page())


for _path in ("/", "/funding", "/matrix", "/alerts"):
    router.add_api_route(_path, view_page, methods=["GET", "HEAD"])


@router.api_route("/symbol/{symbol}", methods=["GET", "HEAD"])
async def symbol_page(request: Request, symbol: Annotated[str, Path(max_length=200)]) -> Response:
    if not _SYMBOL.match(symbol):
        raise HTTPException(404, "no such page: a symbol is 1-40 letters, digits, . _ or -")
    return _serve(request, page())


@router.api_route("/static/{name:path}", methods=["GET", "HEAD"])
async def static_file(request: Request, name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise HTTPException(404, "no such file")
    return _serve(request, asset)
