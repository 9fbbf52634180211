"""Shared fixtures: a realistic random-walk OHLCV series and a TA-Lib comparison helper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from perpwatch.types import FloatArray

N_BARS = 600


@dataclass(frozen=True)
class Ohlcv:
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray


@pytest.fixture(scope="session")
def ohlcv() -> Ohlcv:
    """600 bars of a geometric random walk around 100 with 1% bar volatility."""
    rng = np.random.default_rng(20240601)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, N_BARS)))
    open_ = np.empty(N_BARS)
    open_[0] = 100.0
    open_[1:] = close[:-1] * (1.0 + rng.normal(0.0, 0.001, N_BARS - 1))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, 0.004, N_BARS)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, 0.004, N_BARS)))
    volume = rng.lognormal(10.0, 0.5, N_BARS)
    return Ohlcv(open=open_, high=high, low=low, close=close, volume=volume)


CompareFn = Callable[..., None]


def _assert_like_reference(
    ours: FloatArray,
    ref: FloatArray,
    *,
    nan_prefix: int,
    rtol: float = 1e-9,
    atol: float = 0.0,
) -> None:
    """Same NaN positions, exactly ``nan_prefix`` leading NaNs, close elsewhere."""
    assert ours.dtype == np.float64
    assert ours.shape == ref.shape
    assert np.isnan(ref[:nan_prefix]).all()
    assert not np.isnan(ref[nan_prefix:]).any()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    defined = ~np.isnan(ref)
    np.testing.assert_allclose(ours[defined], ref[defined], rtol=rtol, atol=atol)


@pytest.fixture
def assert_like_talib() -> CompareFn:
    return _assert_like_reference
