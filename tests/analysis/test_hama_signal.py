"""The recommendation rules and the analysis document, on constructed price paths."""

from __future__ import annotations

import numpy as np
import pytest

from perpwatch.analysis.hama_signal import AnalysisInput, analyze, required_candles
from perpwatch.errors import InsufficientData
from perpwatch.indicators.hama import HamaParams
from perpwatch.market.types import Candles

TF = 900_000
T0 = 1_790_000_000_000 // TF * TF
PARAMS = HamaParams()


def candles_from_closes(closes: np.ndarray, volume: np.ndarray | None = None) -> Candles:
    closes = closes.astype(np.float64)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    wick = np.abs(closes) * 0.001
    high = np.maximum(opens, closes) + wick
    low = np.minimum(opens, closes) - wick
    n = len(closes)
    vol = np.full(n, 100.0) if volume is None else volume
    return Candles(T0 + np.arange(n, dtype=np.int64) * TF, opens, high, low, closes, vol, TF)


def run(c: Candles) -> dict[str, object]:
    doc = analyze(
        AnalysisInput(
            symbol="TESTUSDT",
            exchange="sim",
            timeframe="15m",
            closed=c,
            live_price=float(c.close[-1]),
            price_time_ms=int(c.open_time[-1]) + TF + 1000,
            computed_at_ms=int(c.open_time[-1]) + TF + 1500,
        ),
        PARAMS,
    )
    return doc.model_dump()


def v_shape(n: int, down: float, up: float) -> np.ndarray:
    """Falls for the first part, then rises: ends above its MA after a cross up."""
    half = n - 60
    return np.concatenate(
        [np.linspace(100, 100 - down, half), np.linspace(100 - down, 100 - down + up, 60)]
    )


def test_bullish_is_buy() -> None:
    doc = run(candles_from_closes(v_shape(498, 10, 14), volume=np.r_[np.full(497, 100.0), 300.0]))
    h = doc["hama_analysis"]
    assert h["recommendation"] == "BUY" and h["hama_status"] == "bullish"
    s = h["signals"]
    assert s["last_cross_direction"] == 1 and s["ha_close"] >= s["hama_ma"]
    assert s["deviation_pct"] >= 0.1
    assert doc["conditions"]["is_uptrend"] is True
    assert doc["conditions"]["has_volume_confirmation"] is True  # 3x the 20-bar average
    assert 0.0 < h["confidence"] <= 1.0
    assert h["confidence"] == pytest.approx(
        0.35 * h["confidence_breakdown"]["deviation"]
        + 0.20 * h["confidence_breakdown"]["cross_age"]
        + 0.20 * h["confidence_breakdown"]["ma_slope"]
        + 0.10 * h["confidence_breakdown"]["volume"]
        + 0.15 * h["confidence_breakdown"]["rsi"],
        abs=1e-3,
    )


def test_bearish_is_sell() -> None:
    doc = run(candles_from_closes(200 - v_shape(498, 10, 14)))
    h = doc["hama_analysis"]
    assert h["recommendation"] == "SELL" and h["hama_status"] == "bearish"
    assert h["signals"]["last_cross_direction"] == -1
    assert h["trend"] == "downtrend"
    assert doc["conditions"]["meets_buy_criteria"] is False


def test_no_cross_or_tiny_deviation_is_hold() -> None:
    flat = np.full(498, 100.0) + np.sin(np.arange(498) / 3.0) * 1e-6
    doc = run(candles_from_closes(flat))
    h = doc["hama_analysis"]
    assert h["recommendation"] == "HOLD" and h["hama_status"] == "neutral"
    assert h["signals"]["deviation_pct"] < 0.1
    assert doc["conditions"]["meets_buy_criteria"] is False
    assert doc["conditions"]["meets_sell_criteria"] is False


def test_rule_holds_across_a_family_including_the_threshold() -> None:
    """Rising V-shapes of growing strength: each is BUY exactly when the rule says so,
    and the family includes a cross up that is still under the 0.1 % deviation (HOLD)."""
    path = v_shape(560, 10, 14)
    seen: set[tuple[int, str]] = set()
    for end in range(498, 560):  # the same path, seen at successive bars through its cross
        h = run(candles_from_closes(path[end - 498 : end]))["hama_analysis"]
        s = h["signals"]
        bullish = (
            s["last_cross_direction"] == 1
            and s["ha_close"] >= s["hama_ma"]
            and s["deviation_pct"] >= 0.1
        )
        bearish = (
            s["last_cross_direction"] == -1
            and s["ha_close"] <= s["hama_ma"]
            and s["deviation_pct"] >= 0.1
        )
        expected = "BUY" if bullish else "SELL" if bearish else "HOLD"
        assert h["recommendation"] == expected, (end, s)
        seen.add((s["last_cross_direction"], h["recommendation"]))
    assert (1, "BUY") in seen
    assert (1, "HOLD") in seen  # crossed up, but not yet 0.1 % above the MA


def test_document_times_and_counts() -> None:
    c = candles_from_closes(v_shape(498, 10, 14))
    doc = run(c)
    assert doc["candles_used"] == 498
    assert doc["candle_close_time"].endswith("Z")
    assert doc["timestamp_ms"] == int(c.open_time[-1]) + TF + 1500
    assert doc["hama_analysis"]["signals"]["realtime_price"] == pytest.approx(c.close[-1])


def test_too_few_candles_is_an_error_not_a_result() -> None:
    need = required_candles(PARAMS)
    assert need == 401
    with pytest.raises(InsufficientData, match="needed"):
        run(candles_from_closes(v_shape(need - 1, 10, 14)))
    run(candles_from_closes(v_shape(need, 10, 14)))
