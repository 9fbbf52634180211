"""The pure parts of the HTTP metrics and the snapshot: bounded labels, bucket counts,
the signal age."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from perpwatch.metrics.exposition import _Families
from perpwatch.metrics.http import OTHER, HttpStats, route_label, status_class
from perpwatch.metrics.loop_lag import overshoot
from perpwatch.metrics.snapshot import Snapshot, families, signal_age_s
from tests.support.prom import parse


@pytest.mark.parametrize(
    ("status", "label"),
    [(0, "5xx"), (101, "1xx"), (200, "2xx"), (204, "2xx"), (307, "3xx"), (404, "4xx"),
     (499, "4xx"), (500, "5xx"), (503, "5xx"), (999, "5xx")],
)  # fmt: skip
def test_status_class(status: int, label: str) -> None:
    assert status_class(status) == label


class _Route:
    path = "/api/gainer-analysis/series/{symbol}"


def test_route_label_is_the_template_or_other() -> None:
    fixed = frozenset({"/api/gainer-analysis/analyze-symbol"})
    routed = {"path": "/api/gainer-analysis/series/BTCUSDT", "route": _Route()}
    assert route_label(routed, fixed=fixed) == "/api/gainer-analysis/series/{symbol}"
    assert route_label({"path": "/api/gainer-analysis/analyze-symbol"}, fixed=fixed) == (
        "/api/gainer-analysis/analyze-symbol"
    )
    assert route_label({"path": "/wp-login.php"}, fixed=fixed) == OTHER


def test_http_stats_bound_their_labels_and_bucket_exactly() -> None:
    stats = HttpStats(bounds=(0.01, 0.1))
    stats.observe("/health", "GET", 200, 0.005)
    stats.observe("/health", "GET", 200, 0.01)  # on the bound: that bucket
    stats.observe("/health", "BREW", 405, 0.5)
    copy = stats.snapshot()
    stats.observe("/health", "GET", 200, 0.05)  # after the copy: not in it
    assert copy.requests == {("/health", "GET", "2xx"): 2, ("/health", OTHER, "4xx"): 1}
    assert copy.durations["/health"].counts == [2, 0, 1]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(lambda: families(Snapshot("1", "3", 0.0, http=copy))))
    m = parse(generate_latest(registry).decode())
    bucket = "perpwatch_http_request_duration_seconds_bucket"
    assert [m.value(bucket, le=le) for le in ("0.01", "0.1", "+Inf")] == [2, 2, 3]
    assert m.value("perpwatch_http_request_duration_seconds_count") == 3
    assert m.value("perpwatch_http_request_duration_seconds_sum") == pytest.approx(0.515)


def test_signal_age_is_the_oldest_and_absent_when_nothing_is_cached() -> None:
    doc = '{"symbol":"X","timestamp_ms":%d,"cycle_id":null}'
    assert signal_age_s([doc % 90_000, None, doc % 95_000], now_s=100.0) == 10.0
    assert signal_age_s([None, None], now_s=100.0) is None
    assert signal_age_s([], now_s=100.0) is None
    assert signal_age_s(['{"no":"time"}'], now_s=100.0) is None


def test_loop_lag_overshoot_is_never_negative() -> None:
    assert overshoot(started=10.0, ended=10.75, slept_s=0.5) == pytest.approx(0.25)
    assert overshoot(started=10.0, ended=10.4, slept_s=0.5) == 0.0
