"""When the next refresh run is due: pure functions, tested with a table.

Refresh-ahead: a cached entry lives ``ttl_s`` from the moment it is written. A run
rewrites every symbol, but a symbol written early in one run may be written late in the
next, so the next run must start no later than ``ttl_s - run_duration - margin`` after
the previous start, or that symbol's entry would expire before it is rewritten and
readers would miss. The period is therefore the configured interval, shortened to that
bound when the interval is as long as the TTL (as with the defaults: 5 min and 300 s).
"""

from __future__ import annotations

MIN_PERIOD_FRACTION = 0.25  # never run more often than a quarter of the interval


def safety_margin_s(ttl_s: float) -> float:
    """Slack for scheduling jitter and slow writes: 5 % of the TTL, at least 0.5 s, at most 30 s."""
    return min(30.0, max(0.5, 0.05 * ttl_s))


def effective_period_s(*, interval_s: float, ttl_s: float, last_duration_s: float) -> float:
    """Seconds between run starts that keep every entry alive between two runs."""
    bound = ttl_s - last_duration_s - safety_margin_s(ttl_s)
    period = min(interval_s, bound)
    return max(period, interval_s * MIN_PERIOD_FRACTION)


def next_run_at(
    *, last_start: float, interval_s: float, ttl_s: float, last_duration_s: float
) -> float:
    return last_start + effective_period_s(
        interval_s=interval_s, ttl_s=ttl_s, last_duration_s=last_duration_s
    )


def next_close_start(
    after_s: float, *, tf_s: float, delay_s: float, offset_s: float, after_close_ms: int | None
) -> tuple[float, int]:
    """When the refresh of the next candle close is due, in local time, and that close.

    Candles close on multiples of ``tf_s`` in exchange time, which runs ``offset_s`` ahead
    of ours. The refresh of a close starts ``delay_s`` after it. The close is the first one
    whose refresh is due after ``after_s`` and that comes after ``after_close_ms`` (the
    close of the cycle just started, so that no close is refreshed twice).
    """
    server_after = after_s + offset_s - delay_s
    close_ms = (int(server_after * 1000) // int(tf_s * 1000) + 1) * int(tf_s * 1000)
    if after_close_ms is not None and close_ms <= after_close_ms:
        close_ms = after_close_ms + int(tf_s * 1000)
    return close_ms / 1000 + delay_s - offset_s, close_ms
