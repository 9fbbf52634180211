"""Reading ``/metrics`` the way Prometheus does: prometheus_client's own text parser."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

# every metric the issue names, with its type (a counter family is named without _total)
REQUIRED: dict[str, str] = {
    "perpwatch_http_requests": "counter",
    "perpwatch_http_request_duration_seconds": "histogram",
    "perpwatch_cache_hits": "counter",
    "perpwatch_cache_misses": "counter",
    "perpwatch_cache_redis_errors": "counter",
    "perpwatch_cache_redis_up": "gauge",
    "perpwatch_refresh_duration_seconds": "histogram",
    "perpwatch_refresh_symbols": "counter",
    "perpwatch_signal_age_seconds": "gauge",
    "perpwatch_signal_changes": "counter",
    "perpwatch_exchange_requests": "counter",
    "perpwatch_exchange_weight_used": "gauge",
    "perpwatch_exchange_rate_limited": "counter",
    "perpwatch_exchange_breaker_open": "gauge",
    "perpwatch_tasks": "counter",
    "perpwatch_task_queue_depth": "gauge",
    "perpwatch_scheduler_is_leader": "gauge",
    "perpwatch_push_clients": "gauge",
    "perpwatch_event_loop_lag_seconds": "gauge",
    "perpwatch_build_info": "gauge",
    # what the alerting rules need besides
    "perpwatch_refresh_interval_seconds": "gauge",
    "perpwatch_funding_checks": "counter",
}


@dataclass(frozen=True)
class Scrape:
    types: dict[str, str]  # family name -> type
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` whose labels include ``labels`` (0 when
        none: a labelled counter has no sample before its first increment)."""
        return sum(s.value for s in self.find(name, **labels))

    def find(self, name: str, **labels: str) -> list[Sample]:
        return [
            s
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def has(self, name: str, **labels: str) -> bool:
        return bool(self.find(name, **labels))


def parse(text: str) -> Scrape:
    types: dict[str, str] = {}
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        assert family.name not in types, f"family {family.name} appears twice"
        types[family.name] = family.type
        samples.extend(family.samples)
    return Scrape(types, samples)


def scrape(client: httpx.Client, path: str = "/metrics") -> Scrape:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)
