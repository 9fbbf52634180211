from __future__ import annotations

import numpy as np
import pytest

from perpwatch.indicators.volume import volume_ratio

from .conftest import Ohlcv


def test_small_case_by_hand() -> None:
    out = volume_ratio(np.array([1.0, 2.0, 3.0, 4.0, 10.0]), 2)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(3.0 / ((1.0 + 2.0) / 2))  # 2.0
    assert out[3] == pytest.approx(4.0 / ((2.0 + 3.0) / 2))  # 1.6
    assert out[4] == pytest.approx(10.0 / ((3.0 + 4.0) / 2))


def test_matches_brute_force(ohlcv: Ohlcv) -> None:
    v = ohlcv.volume
    out = volume_ratio(v, 20)
    expected = np.full(v.shape, np.nan)
    for i in range(20, v.shape[0]):
        expected[i] = v[i] / np.mean(v[i - 20 : i])
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert np.isnan(out[:20]).all() and not np.isnan(out[20:]).any()


def test_zero_average_is_nan_and_zero_volume_is_zero() -> None:
    out = volume_ratio(np.array([0.0, 0.0, 5.0, 0.0]), 2)
    assert np.isnan(out[2])  # average of the two previous bars is 0
    assert out[3] == 0.0  # 0 / 2.5


def test_nan_in_window_and_short_input() -> None:
    out = volume_ratio(np.array([1.0, np.nan, 1.0, 1.0, 1.0]), 2)
    assert np.isnan(out[:4]).all()
    assert out[4] == 1.0
    assert np.isnan(volume_ratio(np.ones(20), 20)).all()
