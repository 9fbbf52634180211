"""What the API process knows at scrape time, and the metric families made of it.

:class:`Snapshot` is gathered on the event loop (:mod:`perpwatch.api.metrics_view`:
counters copied, Redis read); :func:`families` is pure and runs in the exposition thread,
so reading the cached analyses' times costs the loop nothing. Nothing is made up: a value
this process cannot know (no analysis cached, the task queue unreadable, Redis disabled)
is left out, not exported as 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from perpwatch.analysis.service import timestamp_ms_of
from perpwatch.metrics import registry as r
from perpwatch.metrics.http import HttpStats


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: str
    python: str
    now_s: float
    http: HttpStats = field(default_factory=HttpStats)
    hits: Mapping[str, int] = field(default_factory=dict)
    misses: Mapping[str, int] = field(default_factory=dict)
    redis_enabled: bool = False
    redis_up: bool = False
    redis_errors: int = 0
    redis_outages: int = 0
    # the cached analysis (JSON text) of each watched symbol, None where nothing is cached
    analyses: Sequence[str | None] = ()
    refresh_interval_s: float | None = None
    task_queue_depth: int | None = None
    push_clients: int | None = None


def signal_age_s(analyses: Sequence[str | None], now_s: float) -> float | None:
    """Age of the oldest of ``analyses`` (None: none cached)."""
    times = [t for a in analyses if a is not None for t in [timestamp_ms_of(a)] if t is not None]
    return None if not times else max(0.0, now_s - min(times) / 1000)


def _counter(spec: r.Spec, values: dict[tuple[str, ...], float] | float) -> CounterMetricFamily:
    # prometheus_client adds _total to a counter family's samples: give it the base name
    family = CounterMetricFamily(spec.name.removesuffix("_total"), spec.help, labels=spec.labels)
    if isinstance(values, dict):
        for labels, value in sorted(values.items()):
            family.add_metric(list(labels), value)
    else:
        family.add_metric([], values)
    return family


def _gauge(spec: r.Spec, value: float, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
    family.add_metric(list(labels), value)
    return family


def _http(stats: HttpStats) -> Iterator[Metric]:
    yield _counter(r.HTTP_REQUESTS, {k: float(v) for k, v in stats.requests.items()})
    hist = HistogramMetricFamily(r.HTTP_DURATION.name, r.HTTP_DURATION.help,
                                 labels=r.HTTP_DURATION.labels)  # fmt: skip
    bounds = [*(repr(float(b)) for b in stats.bounds), "+Inf"]
    for route, h in sorted(stats.durations.items()):
        running, buckets = 0, []
        for bound, count in zip(bounds, h.counts, strict=True):
            running += count
            buckets.append((bound, float(running)))
        hist.add_metric([route], buckets, sum_value=h.total)
    yield hist


def build_info(version: str, python: str) -> GaugeMetricFamily:
    return _gauge(r.BUILD_INFO, 1.0, (version, python))


def families(s: Snapshot) -> Iterator[Metric]:
    yield build_info(s.version, s.python)
    yield from _http(s.http)
    yield _counter(r.CACHE_HITS, {(k,): float(v) for k, v in s.hits.items()})
    yield _counter(r.CACHE_MISSES, {(k,): float(v) for k, v in s.misses.items()})
    if s.redis_enabled:
        yield _counter(r.REDIS_ERRORS, float(s.redis_errors))
        yield _counter(r.REDIS_OUTAGES, float(s.redis_outages))
        yield _gauge(r.REDIS_UP, 1.0 if s.redis_up else 0.0)
    watched = len(s.analyses)
    yield _gauge(r.SIGNALS_WATCHED, float(watched))
    if watched:
        yield _gauge(r.SIGNALS_MISSING, float(sum(1 for a in s.analyses if a is None)))
    age = signal_age_s(s.analyses, s.now_s)
    if age is not None:
        yield _gauge(r.SIGNAL_AGE, round(age, 3))
    if s.refresh_interval_s is not None:
        yield _gauge(r.REFRESH_INTERVAL, s.refresh_interval_s)
    if s.task_queue_depth is not None:
        yield _gauge(r.TASK_QUEUE_DEPTH, float(s.task_queue_depth))
    if s.push_clients is not None:
        yield _gauge(r.PUSH_CLIENTS, float(s.push_clients))
