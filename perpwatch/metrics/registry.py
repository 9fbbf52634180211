"""Every metric perpwatch exports: its name, help, type and labels, in one place.

Two kinds:

* **Written where they happen** (:class:`Metrics`, prometheus_client objects): values
  produced in any process, worker children included (refresh cycles, exchange requests,
  tasks, the leader flag). With ``PROMETHEUS_MULTIPROC_DIR`` set they live in that
  process's files in the directory, and the API's ``/metrics`` adds up every process's.
  They are built on first use, not at import: prometheus_client picks per-process files or
  plain memory when a metric object is created, and ``perpwatch serve`` sets the directory
  only when it starts. :func:`metrics` is the one per-process instance, because
  prometheus_client's values are per process by design.
* **Read at scrape time** (the ``SCRAPE_*`` specs): the API process's own counters and
  status objects (cache hits, Redis state, push clients, the signals' age...), read by
  :mod:`perpwatch.metrics.snapshot` when ``/metrics`` is asked for. Nothing is counted
  twice for them.

No label names a symbol: 2000 contracts would be 2000 series per metric.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REFRESH_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
HTTP_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                  2.5, 5.0, 10.0)  # fmt: skip

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True, slots=True)
class Spec:
    """A metric read at scrape time: its full name (``_total`` included for counters)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()


# --- read at scrape time, in the API process -------------------------------------------

HTTP_REQUESTS = Spec("perpwatch_http_requests_total", "counter",
                     "HTTP requests answered, by route template, method and status class",
                     ("route", "method", "status"))  # fmt: skip
HTTP_DURATION = Spec("perpwatch_http_request_duration_seconds", "histogram",
                     "HTTP request duration until the response ended, by route template",
                     ("route",))  # fmt: skip
CACHE_HITS = Spec("perpwatch_cache_hits_total", "counter",
                  "analyze-symbol lookups answered from the cache, by the store that answered",
                  ("source",))  # fmt: skip
CACHE_MISSES = Spec("perpwatch_cache_misses_total", "counter",
                    "analyze-symbol lookups that found nothing cached, by the store asked",
                    ("source",))  # fmt: skip
REDIS_ERRORS = Spec(
    "perpwatch_cache_redis_errors_total",
    "counter",
    "Redis calls of the cache that failed (answered from memory instead)",
)
REDIS_OUTAGES = Spec(
    "perpwatch_cache_redis_outages_total", "counter", "switches of the cache from Redis to memory"
)
REDIS_UP = Spec("perpwatch_cache_redis_up", "gauge",
                "1 while the cache reads Redis, 0 while it serves from memory (absent "
                "with REDIS_ENABLED=false)")  # fmt: skip
SIGNAL_AGE = Spec("perpwatch_signal_age_seconds", "gauge",
                  "age of the oldest cached analysis among the watched symbols (absent when "
                  "none is cached)")  # fmt: skip
SIGNALS_MISSING = Spec(
    "perpwatch_signals_missing", "gauge", "watched symbols with no cached analysis"
)
SIGNALS_WATCHED = Spec(
    "perpwatch_signals_watched",
    "gauge",
    "symbols the schedule watches (as this process knows them)",
)
REFRESH_INTERVAL = Spec(
    "perpwatch_refresh_interval_seconds",
    "gauge",
    "the schedule's effective period between refresh runs",
)
TASK_QUEUE_DEPTH = Spec(
    "perpwatch_task_queue_depth",
    "gauge",
    "tasks queued and not started yet (absent when the queue is unreadable)",
)
PUSH_CLIENTS = Spec(
    "perpwatch_push_clients", "gauge", "WebSocket and SSE clients connected to this process"
)
BUILD_INFO = Spec("perpwatch_build_info", "gauge", "always 1: the version running",
                  ("version", "python"))  # fmt: skip

SCRAPE_SPECS = (HTTP_REQUESTS, HTTP_DURATION, CACHE_HITS, CACHE_MISSES, REDIS_ERRORS,
                REDIS_OUTAGES, REDIS_UP, SIGNAL_AGE, SIGNALS_MISSING, SIGNALS_WATCHED,
                REFRESH_INTERVAL, TASK_QUEUE_DEPTH, PUSH_CLIENTS, BUILD_INFO)  # fmt: skip


# --- written where they happen, in any process --------------------------------------------


@dataclass(frozen=True, slots=True)
class Metrics:
    refresh_duration: Histogram
    refresh_symbols: Counter
    signal_changes: Counter
    exchange_requests: Counter
    exchange_rate_limited: Counter
    exchange_weight_used: Gauge
    exchange_breaker_open: Gauge
    tasks: Counter
    funding_checks: Counter
    is_leader: Gauge
    loop_lag: Gauge
    alerts: Counter
    alerts_dropped: Counter
    alert_outbox_depth: Gauge

    def all(self) -> tuple[Counter | Gauge | Histogram, ...]:
        return (self.refresh_duration, self.refresh_symbols, self.signal_changes,
                self.exchange_requests, self.exchange_rate_limited, self.exchange_weight_used,
                self.exchange_breaker_open, self.tasks, self.funding_checks, self.is_leader,
                self.loop_lag, self.alerts, self.alerts_dropped,
                self.alert_outbox_depth)  # fmt: skip


def multiproc_dir() -> str | None:
    """The directory of this host's processes' metric files (None: this process alone)."""
    return os.environ.get(MULTIPROC_ENV) or None


def _use_files_if_asked() -> None:
    """prometheus_client chooses per-process files when it is imported, if the variable
    is set then; ``perpwatch serve`` sets it later, so choose again (its documented way:
    ``values.ValueClass``) before the first metric object is made."""
    if multiproc_dir() and not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


@functools.cache
def metrics() -> Metrics:
    """This process's metric objects, made on first use (not registered anywhere global:
    :mod:`perpwatch.metrics.exposition` collects them)."""
    _use_files_if_asked()
    return Metrics(
        refresh_duration=Histogram(
            "perpwatch_refresh_duration_seconds",
            "duration of a finished refresh run (a whole cycle, shards included), by timeframe",
            ["timeframe"], buckets=REFRESH_BUCKETS_S, registry=None,
        ),
        refresh_symbols=Counter(
            "perpwatch_refresh_symbols",
            "symbols of finished refresh runs, by timeframe and outcome (ok, failed)",
            ["timeframe", "outcome"], registry=None,
        ),
        signal_changes=Counter(
            "perpwatch_signal_changes",
            "analyses whose recommendation or cross changed, by timeframe and new recommendation",
            ["timeframe", "to"], registry=None,
        ),
        exchange_requests=Counter(
            "perpwatch_exchange_requests",
            "exchange requests (each attempt), by outcome: ok, error (temporary, retried), "
            "rejected (4xx), rate_limited (429/418), not_sent (breaker open)",
            ["exchange", "outcome"], registry=None,
        ),
        exchange_rate_limited=Counter(
            "perpwatch_exchange_rate_limited",
            "rate-limit answers (HTTP 429 or 418) from the exchange",
            ["exchange"], registry=None,
        ),
        exchange_weight_used=Gauge(
            "perpwatch_exchange_weight_used",
            "the IP's request weight used in the exchange's current window, as it last "
            "reported (X-MBX-USED-WEIGHT-1M)",
            ["exchange"], registry=None, multiprocess_mode="livemostrecent",
        ),
        exchange_breaker_open=Gauge(
            "perpwatch_exchange_breaker_open",
            "1 while the exchange counts as down (the circuit breaker is open) in a process",
            ["exchange"], registry=None, multiprocess_mode="livemax",
        ),
        tasks=Counter(
            "perpwatch_tasks",
            "tasks that ended, by operation and state (completed, failed, cancelled)",
            ["operation", "state"], registry=None,
        ),
        funding_checks=Counter(
            "perpwatch_funding_checks",
            "periodic funding checks judged, by outcome (ok, failed)",
            ["outcome"], registry=None,
        ),
        is_leader=Gauge(
            "perpwatch_scheduler_is_leader",
            "1 in the process that runs the schedule (holds the lease), else 0",
            registry=None, multiprocess_mode="liveall",
        ),
        loop_lag=Gauge(
            "perpwatch_event_loop_lag_seconds",
            "the event loop's largest delay in waking a timer over the last 10 s, by role",
            ["role"], registry=None, multiprocess_mode="liveall",
        ),
        alerts=Counter(
            "perpwatch_alerts",
            "alerts by rule kind and outcome: queued, cooldown (suppressed), delivered, "
            "retried (an attempt failed, another follows), failed (refused, not retried), "
            "dropped (too old)",
            ["kind", "outcome"], registry=None,
        ),
        alerts_dropped=Counter(
            "perpwatch_alerts_dropped",
            "alerts given up undelivered (older than ALERT_MAX_AGE_SECONDS, or rule deleted)",
            registry=None,
        ),
        alert_outbox_depth=Gauge(
            "perpwatch_alert_outbox_depth",
            "alerts queued or being sent, as a sender last counted them",
            registry=None, multiprocess_mode="livemostrecent",
        ),
    )  # fmt: skip
