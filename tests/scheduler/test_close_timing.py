"""Runs aligned to candle closes: when the next one is due, the lag of what it cached, the
exchange's clock, and what counts as a signal change. All pure (or with injected clocks).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from perpwatch.analysis.signal_change import signal_change
from perpwatch.errors import ExchangeError, PerpwatchError
from perpwatch.scheduler.models import SignalLag, signal_lag
from perpwatch.scheduler.server_clock import ServerClock
from perpwatch.scheduler.timing import next_close_start

M15 = 900.0
T0 = 1_700_000_100.0  # a 15-minute close (1_700_000_100 = 1_888_889 * 900)
assert T0 % M15 == 0

# --- next_close_start ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after_s", "tf_s", "delay_s", "offset_s", "after_close_ms", "expected_at", "expected_close"),
    [
        # no offset, no delay: the next close, strictly after
        (T0 + 1, M15, 0.0, 0.0, None, T0 + M15, T0 + M15),
        (T0 - 1, M15, 0.0, 0.0, None, T0, T0),
        # exactly at a close: that one is not "after", the next one is
        (T0, M15, 0.0, 0.0, None, T0 + M15, T0 + M15),
        # a delay: the close's refresh is due delay_s after it
        (T0 + 1, M15, 5.0, 0.0, None, T0 + 5, T0),
        (T0 + 4.5, M15, 5.0, 0.0, None, T0 + 5, T0),
        (T0 + 5, M15, 5.0, 0.0, None, T0 + M15 + 5, T0 + M15),  # exactly due: the next
        (T0 + 5.5, M15, 5.0, 0.0, None, T0 + M15 + 5, T0 + M15),
        (T0 - 10, M15, 5.0, 0.0, None, T0 + 5, T0),
        # the exchange runs 2 s ahead of us: its close is 2 s early in our time
        (T0 - 10, M15, 5.0, 2.0, None, T0 + 3, T0),
        (T0 + 2.5, M15, 5.0, 2.0, None, T0 + 3, T0),
        (T0 + 3, M15, 5.0, 2.0, None, T0 + M15 + 3, T0 + M15),
        # ... or 2.5 s behind: late in our time
        (T0 - 10, M15, 5.0, -2.5, None, T0 + 7.5, T0),
        (T0 + 7, M15, 5.0, -2.5, None, T0 + 7.5, T0),
        (T0 + 7.5, M15, 5.0, -2.5, None, T0 + M15 + 7.5, T0 + M15),
        # an offset bigger than the delay
        (T0 - 1, M15, 1.0, 30.0, None, T0 + M15 - 29, T0 + M15),
        # other timeframes
        (T0 + 1, 60.0, 2.0, 0.0, None, T0 + 2, T0),
        (T0 + 3, 60.0, 2.0, 0.0, None, T0 + 62, T0 + 60),
        (T0 + 10, 3600.0, 10.0, 0.0, None, 1_700_002_810.0, 1_700_002_800.0),
    ],
)
def test_next_close_start(
    after_s: float,
    tf_s: float,
    delay_s: float,
    offset_s: float,
    after_close_ms: int | None,
    expected_at: float,
    expected_close: float,
) -> None:
    at, close_ms = next_close_start(
        after_s, tf_s=tf_s, delay_s=delay_s, offset_s=offset_s, after_close_ms=after_close_ms
    )
    assert close_ms == int(expected_close * 1000)
    assert isinstance(close_ms, int)
    assert at == pytest.approx(expected_at, abs=1e-6)
    assert at > after_s  # always in the future


def test_a_close_is_never_refreshed_twice() -> None:
    """The run of close T0 started a hair early (the offset moved by 3 ms since it was
    planned): planning from its start would pick T0 again; after_close_ms skips it."""
    close = int(T0 * 1000)
    early_start = T0 + 5 - 0.003
    repeat = next_close_start(early_start, tf_s=M15, delay_s=5, offset_s=0, after_close_ms=None)
    assert repeat[1] == close  # what it would do without after_close_ms
    at, close_ms = next_close_start(
        early_start, tf_s=M15, delay_s=5, offset_s=0, after_close_ms=close
    )
    assert close_ms == close + 900_000
    assert at == pytest.approx(T0 + M15 + 5)


def test_after_close_ms_in_the_past_changes_nothing() -> None:
    older = int((T0 - 2 * M15) * 1000)
    plain = next_close_start(T0 + 1, tf_s=M15, delay_s=5, offset_s=0, after_close_ms=None)
    assert next_close_start(T0 + 1, tf_s=M15, delay_s=5, offset_s=0, after_close_ms=older) == plain
    assert plain == (T0 + 5, int(T0 * 1000))


def test_after_close_ms_equal_to_the_next_close_skips_it() -> None:
    at, close_ms = next_close_start(
        T0 - 100, tf_s=M15, delay_s=5, offset_s=0, after_close_ms=int(T0 * 1000)
    )
    assert close_ms == int((T0 + M15) * 1000)
    assert at == pytest.approx(T0 + M15 + 5)


@pytest.mark.parametrize("offset_s", [0.0, 0.25, 0.1, -0.37, 1.234, -7.001])
def test_consecutive_plans_walk_every_close_once(offset_s: float) -> None:
    """Plan, start at the planned time, plan again from there: one close after another,
    whatever float rounding does to a start planned exactly on a due time."""
    after: float = T0 - 50.0
    last: int | None = None
    closes = []
    for _ in range(6):
        at, close_ms = next_close_start(
            after, tf_s=M15, delay_s=5.0, offset_s=offset_s, after_close_ms=last
        )
        closes.append(close_ms)
        after, last = at, close_ms
    assert closes == [int((T0 + i * M15) * 1000) for i in range(6)]


# --- signal_lag ----------------------------------------------------------------------------

CLOSE_MS = 1_700_000_100_000
CLOSE_ISO = "2023-11-14T22:15:00.000Z"
OLDER_ISO = "2023-11-14T22:00:00.000Z"


def test_signal_lag_p50_and_max() -> None:
    times: list[tuple[int, str] | None] = [
        (CLOSE_MS + 4_000, CLOSE_ISO),
        (CLOSE_MS + 1_500, CLOSE_ISO),
        (CLOSE_MS + 9_250, CLOSE_ISO),
        (CLOSE_MS + 2_000, CLOSE_ISO),
        (CLOSE_MS + 3_000, CLOSE_ISO),
    ]
    assert signal_lag(CLOSE_MS, CLOSE_ISO, times) == SignalLag(
        candle_close=CLOSE_ISO, measured=5, missing=0, p50_s=3.0, max_s=9.25
    )


def test_signal_lag_even_count_takes_the_lower_middle() -> None:
    times: list[tuple[int, str] | None] = [
        (CLOSE_MS + 1_000, CLOSE_ISO),
        (CLOSE_MS + 2_000, CLOSE_ISO),
        (CLOSE_MS + 3_000, CLOSE_ISO),
        (CLOSE_MS + 10_000, CLOSE_ISO),
    ]
    lag = signal_lag(CLOSE_MS, CLOSE_ISO, times)
    assert (lag.p50_s, lag.max_s, lag.measured) == (2.0, 10.0, 4)


def test_signal_lag_counts_missing_and_older_analyses_as_missing() -> None:
    times: list[tuple[int, str] | None] = [
        None,  # nothing cached
        (CLOSE_MS - 600_000, OLDER_ISO),  # still the analysis of the close before
        (CLOSE_MS + 1_234, CLOSE_ISO),
        None,
    ]
    assert signal_lag(CLOSE_MS, CLOSE_ISO, times) == SignalLag(
        candle_close=CLOSE_ISO, measured=1, missing=3, p50_s=1.234, max_s=1.234
    )


def test_signal_lag_rounds_to_milliseconds() -> None:
    lag = signal_lag(CLOSE_MS, CLOSE_ISO, [(CLOSE_MS + 1, CLOSE_ISO), (CLOSE_MS + 2, CLOSE_ISO)])
    assert (lag.p50_s, lag.max_s) == (0.001, 0.002)


@pytest.mark.parametrize("times", [[], [None, None], [(CLOSE_MS + 5, OLDER_ISO)]])
def test_signal_lag_with_nothing_measured(times: list[tuple[int, str] | None]) -> None:
    assert signal_lag(CLOSE_MS, CLOSE_ISO, times) == SignalLag(
        candle_close=CLOSE_ISO, measured=0, missing=len(times), p50_s=None, max_s=None
    )


def test_signal_lag_round_trips_as_json() -> None:
    lag = signal_lag(CLOSE_MS, CLOSE_ISO, [(CLOSE_MS + 1_500, CLOSE_ISO), None])
    assert SignalLag.model_validate(lag.model_dump(mode="json")) == lag


# --- ServerClock ---------------------------------------------------------------------------


class Wall:
    """Our clock, moved by the fake exchange's round trips and by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeExchange:
    """Answers server time ``ahead_s`` ahead of ``wall``, at the middle of a round trip of
    ``rtt_s``; raises ``fail`` instead when set."""

    def __init__(self, wall: Wall, ahead_s: float, rtt_s: float) -> None:
        self.wall = wall
        self.ahead_s = ahead_s
        self.rtt_s = rtt_s
        self.fail: Exception | None = None
        self.calls = 0

    async def server_time_ms(self) -> int:
        self.calls += 1
        self.wall.now += self.rtt_s / 2
        if self.fail is not None:
            raise self.fail
        answer = round((self.wall.now + self.ahead_s) * 1000)
        self.wall.now += self.rtt_s / 2
        return answer


async def test_server_clock_measures_the_offset_halfway_through_the_round_trip() -> None:
    wall = Wall(1_700_000_000.0)
    exchange = FakeExchange(wall, ahead_s=1.5, rtt_s=0.2)
    clock = ServerClock(exchange.server_time_ms, clock=wall)
    assert (clock.offset_s, clock.measured_at, clock.rtt_s, clock.error) == (0.0, None, None, None)
    await clock.measure()
    assert clock.offset_s == pytest.approx(1.5, abs=1e-3)
    assert clock.rtt_s == pytest.approx(0.2)
    assert clock.measured_at == pytest.approx(1_700_000_000.2)
    assert clock.error is None

    exchange.ahead_s = -0.75  # the exchange is behind us now
    await clock.measure()
    assert clock.offset_s == pytest.approx(-0.75, abs=1e-3)


async def test_server_clock_errors_keep_the_old_offset(caplog: pytest.LogCaptureFixture) -> None:
    wall = Wall(1_700_000_000.0)
    exchange = FakeExchange(wall, ahead_s=2.0, rtt_s=0.1)
    clock = ServerClock(exchange.server_time_ms, clock=wall)
    await clock.measure()
    measured_at = clock.measured_at
    exchange.fail = ExchangeError("binance: 503 Service Unavailable")
    with caplog.at_level(logging.WARNING, logger="perpwatch.scheduler.server_clock"):
        await clock.measure()
        await clock.measure()
    assert clock.offset_s == pytest.approx(2.0, abs=1e-3)
    assert clock.measured_at == measured_at
    assert clock.error == "binance: 503 Service Unavailable"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not once per try
    assert "503" in warnings[0].getMessage()

    exchange.fail = None
    exchange.ahead_s = 2.5
    await clock.measure()
    assert clock.error is None
    assert clock.offset_s == pytest.approx(2.5, abs=1e-3)


async def test_server_clock_never_measured_stays_at_zero() -> None:
    wall = Wall(1_700_000_000.0)
    exchange = FakeExchange(wall, ahead_s=3.0, rtt_s=0.1)
    exchange.fail = PerpwatchError("no route")
    clock = ServerClock(exchange.server_time_ms, clock=wall)
    await clock.measure()
    assert (clock.offset_s, clock.measured_at, clock.error) == (0.0, None, "no route")


async def test_server_clock_other_errors_propagate() -> None:
    wall = Wall(1_700_000_000.0)
    exchange = FakeExchange(wall, ahead_s=3.0, rtt_s=0.1)
    exchange.fail = RuntimeError("a bug, not an outage")
    clock = ServerClock(exchange.server_time_ms, clock=wall)
    with pytest.raises(RuntimeError):
        await clock.measure()
    assert clock.offset_s == 0.0


async def test_server_clock_refresh_measures_every_every_s() -> None:
    wall = Wall(1_700_000_000.0)
    exchange = FakeExchange(wall, ahead_s=1.0, rtt_s=0.0)
    clock = ServerClock(exchange.server_time_ms, every_s=600.0, clock=wall)
    await clock.refresh()  # never measured: now
    assert exchange.calls == 1
    wall.now += 599.0
    await clock.refresh()
    assert exchange.calls == 1
    wall.now += 1.0
    await clock.refresh()
    assert exchange.calls == 2
    # a failed measurement leaves measured_at; it is tried again after retry_s (60 s),
    # not on every refresh (the scheduler refreshes on every turn of its loop)
    exchange.fail = ExchangeError("down")
    wall.now += 600.0
    await clock.refresh()
    await clock.refresh()
    assert exchange.calls == 3
    wall.now += 59.0
    await clock.refresh()
    assert exchange.calls == 3
    wall.now += 1.0
    exchange.fail = None
    await clock.refresh()
    assert exchange.calls == 4 and clock.error is None and clock.measured_at == wall.now


# --- signal_change -------------------------------------------------------------------------


def doc(
    rec: str = "HOLD",
    cross: int = 1,
    *,
    timeframe: str = "15m",
    symbol: str = "BTCUSDT",
    confidence: float = 0.42,
    close: str = "2023-11-14T22:15:00.000Z",
    ts: str = "2023-11-14T22:15:03.120Z",
) -> dict[str, Any]:
    """The fields of an analysis document (``model_dump``) that a change is made of."""
    return {
        "symbol": symbol,
        "exchange": "binance",
        "timeframe": timeframe,
        "hama_analysis": {
            "recommendation": rec,
            "confidence": confidence,
            "signals": {"last_cross_direction": cross, "bars_since_cross": 3},
        },
        "candle_close_time": close,
        "timestamp": ts,
    }


def test_a_new_recommendation() -> None:
    change = signal_change(json.dumps(doc("HOLD", 1)), doc("BUY", 1, confidence=0.81))
    assert change is not None
    assert change.model_dump(by_alias=True) == {
        "symbol": "BTCUSDT",
        "timeframe": "15m",
        "from": "HOLD",
        "to": "BUY",
        "cross_from": 1,
        "cross_to": 1,
        "changed": ["recommendation"],
        "confidence": 0.81,
        "candle_close_time": "2023-11-14T22:15:00.000Z",
        "computed_at": "2023-11-14T22:15:03.120Z",
    }
    # the event's data, as the publisher sends it
    assert json.loads(change.model_dump_json(by_alias=True))["from"] == "HOLD"


def test_a_flipped_cross() -> None:
    change = signal_change(json.dumps(doc("SELL", 1)), doc("SELL", -1))
    assert change is not None
    assert (change.from_, change.to, change.cross_from, change.cross_to) == ("SELL", "SELL", 1, -1)
    assert change.changed == ["cross"]


def test_both_changed() -> None:
    change = signal_change(json.dumps(doc("BUY", 1)), doc("SELL", -1))
    assert change is not None
    assert change.changed == ["recommendation", "cross"]
    assert (change.from_, change.to, change.cross_from, change.cross_to) == ("BUY", "SELL", 1, -1)


def test_a_first_cross_counts() -> None:
    change = signal_change(json.dumps(doc("HOLD", 0)), doc("HOLD", 1))
    assert change is not None and change.changed == ["cross"]


def test_nothing_changed() -> None:
    # other fields move (confidence, times): not a signal change
    previous = doc("BUY", 1, confidence=0.7, ts="2023-11-14T22:00:03.000Z")
    assert signal_change(json.dumps(previous), doc("BUY", 1, confidence=0.9)) is None


@pytest.mark.parametrize(
    "previous",
    [
        None,
        "",
        "not json",
        "null",
        "[]",
        '"BUY"',
        "{}",
        '{"hama_analysis": null, "timeframe": "15m"}',
        '{"hama_analysis": {"recommendation": "BUY"}, "timeframe": "15m"}',  # no signals
        '{"hama_analysis": {"signals": {"last_cross_direction": 1}}, "timeframe": "15m"}',
        '{"hama_analysis": [], "timeframe": "15m"}',
        json.dumps(doc("SELL", -1))[:-20],  # cut off
    ],
)
def test_nothing_to_compare_with(previous: str | None) -> None:
    assert signal_change(previous, doc("BUY", 1)) is None


def test_another_timeframe_is_nothing_to_compare_with() -> None:
    assert signal_change(json.dumps(doc("SELL", -1, timeframe="1h")), doc("BUY", 1)) is None
    no_timeframe = doc("SELL", -1)
    del no_timeframe["timeframe"]
    assert signal_change(json.dumps(no_timeframe), doc("BUY", 1)) is None


@pytest.mark.parametrize(
    ("old_rec", "old_cross"),
    [("STRONG_BUY", 1), (None, 1), ("BUY", 2)],
)
def test_a_previous_analysis_with_impossible_values_is_unreadable(
    old_rec: object, old_cross: object
) -> None:
    """A cached document that parses but whose recommendation or cross is not one there
    can be (another version wrote it, or it was damaged) is "unreadable": None, as the
    docstring says. Raising instead fails the computation of the new analysis (it runs
    in ``_analyze_and_encode``), so the symbol cannot be refreshed until the bad entry
    expires."""
    previous = doc("HOLD", 1)
    previous["hama_analysis"]["recommendation"] = old_rec
    previous["hama_analysis"]["signals"]["last_cross_direction"] = old_cross
    assert signal_change(json.dumps(previous), doc("BUY", -1)) is None
