"""The matrix alignment on constructed cases."""

from __future__ import annotations

import pytest

from perpwatch.analysis.alignment import alignment


def test_all_buy_is_plus_one_and_all_sell_minus_one() -> None:
    assert alignment([("BUY", 0.9), ("BUY", 0.3), ("BUY", 0.6)]) == 1.0
    assert alignment([("SELL", 0.2), ("SELL", 0.8)]) == -1.0


def test_opposites_of_equal_confidence_cancel() -> None:
    assert alignment([("BUY", 0.7), ("SELL", 0.7)]) == 0.0
    assert alignment([("HOLD", 0.5), ("HOLD", 0.9)]) == 0.0


def test_confidence_weights_the_vote() -> None:
    # (0.9 - 0.3) / 1.2
    assert alignment([("BUY", 0.9), ("SELL", 0.3)]) == pytest.approx(0.5)
    # a confident HOLD pulls towards 0: 0.8 / (0.8 + 0.8)
    assert alignment([("BUY", 0.8), ("HOLD", 0.8)]) == pytest.approx(0.5)
    # 15m BUY 0.6, 1h BUY 0.8, 4h SELL 0.4: (0.6 + 0.8 - 0.4) / 1.8
    assert alignment([("BUY", 0.6), ("BUY", 0.8), ("SELL", 0.4)]) == pytest.approx(0.5556)


def test_nothing_to_measure_is_none() -> None:
    assert alignment([]) is None
    assert alignment([("BUY", 0.0), ("SELL", 0.0)]) is None


def test_confidences_outside_0_1_are_clipped() -> None:
    assert alignment([("BUY", 5.0), ("SELL", 1.0)]) == 0.0
    assert alignment([("BUY", -1.0), ("SELL", 0.5)]) == -1.0
