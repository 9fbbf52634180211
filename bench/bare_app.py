"""The bare baseline of ``bench/cache_hit_throughput.py``: a minimal Starlette app with one
POST route that answers a constant JSON body of exactly ``--size`` bytes.

It is served by uvicorn exactly as ``perpwatch serve`` serves the API (``cmd_serve`` in
``perpwatch/cli.py``): ``uvicorn.run`` with uvicorn's default loop and HTTP implementation
("auto": uvloop and httptools when installed, as they are with ``uvicorn[standard]``),
perpwatch's logging config at the given level, access log off. The route reads the request
body, as any JSON endpoint must, and answers pre-built bytes: no serialisation, no
middleware, nothing else -- the ceiling the framework and server allow on this machine.

    python bench/bare_app.py --port 8123 --size 2048 [--path /api/gainer-analysis/analyze-symbol]
    python -m bench.bare_app ...   (as the bench starts it)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from perpwatch.logging import logging_config

DEFAULT_PATH = "/api/gainer-analysis/analyze-symbol"
PREFIX = b'{"code":0,"msg":"success","data":"'
SUFFIX = b'"}'


def constant_body(size: int) -> bytes:
    """A valid JSON document of exactly ``size`` bytes."""
    pad = size - len(PREFIX) - len(SUFFIX)
    if pad < 0:
        raise ValueError(f"--size must be at least {len(PREFIX) + len(SUFFIX)} bytes")
    body = PREFIX + b"x" * pad + SUFFIX
    assert len(body) == size
    return body


def create_app(size: int, path: str = DEFAULT_PATH) -> Starlette:
    body = constant_body(size)

    async def answer(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route(path, answer, methods=["POST"])])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--size", type=int, required=True, help="response body size in bytes")
    p.add_argument("--path", default=DEFAULT_PATH)
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    app = create_app(args.size, args.path)
    # the same call as perpwatch.cli.cmd_serve: no loop=/http= (uvicorn's "auto")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=logging_config(args.log_level),
        access_log=False,
    )


if __name__ == "__main__":
    main()
