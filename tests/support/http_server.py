"""Run an ASGI app under a real uvicorn server in a background thread (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from perpwatch.api.server_options import API_SERVER_OPTIONS
from perpwatch.emulator.server import serve_in_thread


@contextmanager
def serve_app(app: Any, *, port: int = 0, **options: Any) -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) while ``app`` serves, lifespan included
    (``port=0``: a free one), with uvicorn's options as ``perpwatch serve`` has them unless
    ``options`` say otherwise."""
    with serve_in_thread(app, port=port, lifespan="on", **{**API_SERVER_OPTIONS, **options}) as url:
        yield url
