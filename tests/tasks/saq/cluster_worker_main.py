"""``python -m tests.tasks.saq.cluster_worker_main REDIS_URL [QUEUE]``: a SAQ worker process
on a Redis Cluster (``REDIS_URL`` names any node) running the test operations until SIGTERM,
as ``perpwatch worker`` does with ``REDIS_CLUSTER=true``."""

from __future__ import annotations

import asyncio
import logging
import sys

from perpwatch.tasks.saq.jobs import QUEUE_NAME
from perpwatch.tasks.saq.worker import run_worker
from tests.tasks.ops import build_registry
from tests.tasks.saq.worker_main import make_ctx


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    url = sys.argv[1]
    queue = sys.argv[2] if len(sys.argv) > 2 else QUEUE_NAME
    asyncio.run(
        run_worker(
            redis_url=url,
            registry=build_registry(),
            ctx_factory=make_ctx,
            concurrency=4,
            queue_name=queue,
            cluster=True,
            shutdown_grace_s=2.0,
        )
    )


if __name__ == "__main__":
    main()
