"""The metric files of ``perpwatch serve`` and its worker children, on one host.

prometheus_client's multiprocess mode keeps each process's metrics in files of one
directory, named by pid, and the API's ``/metrics`` adds them up. :class:`MetricsDir` owns
that directory for the lifetime of ``perpwatch serve``:

* it uses ``PROMETHEUS_MULTIPROC_DIR`` when set (the directory then belongs to this one
  ``perpwatch serve``), else makes a private one (mode 0700) and sets the variable, which
  the children inherit;
* it deletes stale files at start: a directory kept from an earlier run would add the old
  processes' counts to the new ones;
* a child that exits is marked dead (its ``live*`` gauges are dropped; its counters
  stay, so totals never go back when a worker is restarted);
* at the end a private directory is removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from prometheus_client import multiprocess

from perpwatch.metrics.registry import MULTIPROC_ENV

logger = logging.getLogger(__name__)


def clean(path: Path) -> int:
    """Delete the metric files (``*.db``) in ``path``; how many there were."""
    stale = list(path.glob("*.db"))
    for f in stale:
        f.unlink(missing_ok=True)
    return len(stale)


class MetricsDir:
    def __init__(self) -> None:
        self.path: Path | None = None
        self._private = False

    def __enter__(self) -> Self:
        given = os.environ.get(MULTIPROC_ENV)
        if given:
            path = Path(given)
            path.mkdir(parents=True, exist_ok=True)
        else:
            path = Path(tempfile.mkdtemp(prefix="perpwatch-metrics-"))
            os.environ[MULTIPROC_ENV] = str(path)
            self._private = True
        self.path = path
        stale = clean(path)
        if stale:
            logger.info("metrics directory %s: %d stale files removed", path, stale)
        return self

    def process_dead(self, pid: int) -> None:
        """A child exited: its live gauges no longer count."""
        if self.path is not None:
            multiprocess.mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._private and self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            os.environ.pop(MULTIPROC_ENV, None)
