"""``python -m tests.tasks.saq.worker_main REDIS_URL [QUEUE]``: a SAQ worker process
running the test operations until SIGTERM (what ``perpwatch worker`` does in production)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from perpwatch.tasks.saq.worker import run_worker
from tests.tasks.ops import build_registry


@contextlib.asynccontextmanager
async def make_ctx() -> AsyncIterator[dict[str, str]]:
    yield {"process": "worker"}


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    url = sys.argv[1]
    queue = sys.argv[2] if len(sys.argv) > 2 else "perpwatch"
    asyncio.run(
        run_worker(
            redis_url=url,
            registry=build_registry(),
            ctx_factory=make_ctx,
            concurrency=4,
            queue_name=queue,
            shutdown_grace_s=2.0,
        )
    )


if __name__ == "__main__":
    main()
