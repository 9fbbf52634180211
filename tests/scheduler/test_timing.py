import pytest

from perpwatch.scheduler.timing import effective_period_s, next_run_at, safety_margin_s


@pytest.mark.parametrize(
    ("interval_s", "ttl_s", "duration_s", "expected"),
    [
        # defaults: 5 min interval, 300 s TTL, 3 s runs -> start 15 s + 3 s early
        (300, 300, 3.0, 282.0),
        # interval well inside the TTL: the interval stands
        (60, 300, 3.0, 60.0),
        (120, 600, 10.0, 120.0),
        # long runs pull the next start earlier still
        (300, 300, 60.0, 225.0),
        # a TTL shorter than the interval: refresh-ahead bound wins
        (600, 300, 5.0, 280.0),
        # never more often than a quarter of the interval
        (300, 300, 280.0, 75.0),
        # tiny compressed-clock settings used by tests
        (3.0, 3.0, 0.2, 2.3),
    ],
)
def test_effective_period(
    interval_s: float, ttl_s: float, duration_s: float, expected: float
) -> None:
    got = effective_period_s(interval_s=interval_s, ttl_s=ttl_s, last_duration_s=duration_s)
    assert got == pytest.approx(expected)


def test_every_entry_is_rewritten_before_it_expires() -> None:
    # worst case: a symbol written at the very start of one run and at the very end of the next
    ttl, interval, duration = 300.0, 300.0, 20.0
    start = 1000.0
    nxt = next_run_at(last_start=start, interval_s=interval, ttl_s=ttl, last_duration_s=duration)
    written_first = start
    rewritten_last = nxt + duration
    assert rewritten_last < written_first + ttl


@pytest.mark.parametrize(("ttl", "margin"), [(1, 0.5), (300, 15.0), (3600, 30.0), (20, 1.0)])
def test_safety_margin(ttl: float, margin: float) -> None:
    assert safety_margin_s(ttl) == pytest.approx(margin)
