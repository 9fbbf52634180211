"""One long-running background task of a component: started once, stopped for sure.

``stop()`` sets :attr:`Background.stopping` as well as cancelling the task, and every
loop run through it checks the flag: a cancellation swallowed below us (seen with
redis-py 8.1 on Python 3.11: a cancelled task that went on with its loop) must not leave
the loop running while ``stop()`` waits for it. The task is held by a strong reference.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any


class Background:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``loop()`` unless it runs already."""
        if not self.running:
            self.stopping = False
            self._task = asyncio.create_task(loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        self.stopping = True
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
