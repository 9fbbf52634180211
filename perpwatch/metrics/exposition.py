"""The text format of ``/metrics``: this host's processes' metrics plus a scrape snapshot.

With ``PROMETHEUS_MULTIPROC_DIR`` the metrics written where they happen are read from
every process's files there (:class:`~prometheus_client.multiprocess.MultiProcessCollector`
adds them up: counters and histograms summed, gauges by their ``multiprocess_mode``);
without it, from this process's objects. Rendering reads files and formats thousands of
lines, so the API calls :func:`render` in a thread, never on its event loop.

A standalone ``perpwatch worker`` (another host) may serve its own on ``METRICS_PORT``
(:func:`serve_process_metrics`).
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from perpwatch import __version__
from perpwatch.metrics.registry import metrics as process_metrics
from perpwatch.metrics.registry import multiproc_dir
from perpwatch.metrics.snapshot import Snapshot, build_info, families

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # text/plain; version=0.0.4; charset=utf-8


class _Families(Collector):
    def __init__(self, produce: Any) -> None:
        self._produce = produce

    def collect(self) -> Iterable[Any]:
        return list(self._produce())


def _this_process() -> Iterator[Any]:
    for metric in process_metrics().all():
        yield from metric.collect()


def _host_files(path: str) -> Any:
    """Every process's files added up, plus (without samples) the metrics no process has
    written yet: the same families as without the files, and no made-up zeros."""
    files = MultiProcessCollector(None, path=path)  # type: ignore[no-untyped-call]

    def produce() -> Iterator[Any]:
        found = list(files.collect())  # type: ignore[no-untyped-call]
        names = {family.name for family in found}
        yield from found
        for metric in process_metrics().all():
            yield from (f for f in metric.describe() if f.name not in names)

    return produce


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    path = multiproc_dir()
    registry.register(_Families(_this_process if path is None else _host_files(path)))
    ProcessCollector(registry=registry)  # this process's CPU, memory, file descriptors
    return registry


def render(snapshot: Snapshot) -> bytes:
    """The exposition text (0.0.4) of this host's metrics and ``snapshot``."""
    registry = _registry()
    registry.register(_Families(lambda: families(snapshot)))
    return generate_latest(registry)


def serve_process_metrics(host: str, port: int) -> WSGIServer:
    """``/metrics`` of this process (and its host's files) on ``host:port``, served by
    prometheus_client's own server in a thread: for a worker no API process aggregates.
    The caller shuts the server down."""
    registry = _registry()
    info = build_info(__version__, platform.python_version())
    registry.register(_Families(lambda: [info]))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    logger.info("metrics of this process on http://%s:%d/metrics", host, port)
    return server
