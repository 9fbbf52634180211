import math

import pytest

from perpwatch.analysis import confidence as c


def test_weights_sum_to_one() -> None:
    assert sum(c.WEIGHTS.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("dev", "score"), [(0.0, 0.0), (0.5, 0.25), (2.0, 1.0), (5.0, 1.0)])
def test_deviation(dev: float, score: float) -> None:
    assert c.deviation_score(dev) == pytest.approx(score)


@pytest.mark.parametrize(
    ("bars", "score"),
    [(None, 0.0), (0, 0.25), (1, 0.5), (3, 1.0), (48, 1.0), (120, 0.625), (192, 0.25), (500, 0.25)],
)
def test_cross_age(bars: int | None, score: float) -> None:
    assert c.cross_age_score(bars) == pytest.approx(score)


@pytest.mark.parametrize(
    ("direction", "slope", "score"),
    [(1, 0.25, 0.5), (1, 1.0, 1.0), (1, -0.3, 0.0), (-1, -0.25, 0.5), (-1, 0.3, 0.0)],
)
def test_ma_slope(direction: int, slope: float, score: float) -> None:
    assert c.ma_slope_score(direction, slope) == pytest.approx(score)


@pytest.mark.parametrize(("ratio", "score"), [(None, 0.0), (0.75, 0.5), (1.5, 1.0), (3.0, 1.0)])
def test_volume(ratio: float | None, score: float) -> None:
    assert c.volume_score(ratio) == pytest.approx(score)


@pytest.mark.parametrize(
    ("direction", "rsi", "score"),
    [
        (1, 30.0, 0.0),
        (1, 47.5, 0.5),
        (1, 60.0, 1.0),
        (1, 77.5, 0.75),
        (1, 95.0, 0.5),
        (-1, 70.0, 0.0),
        (-1, 40.0, 1.0),
        (-1, 10.0, 0.5),
        (1, math.nan, 0.0),
    ],
)
def test_rsi(direction: int, rsi: float, score: float) -> None:
    assert c.rsi_score(direction, rsi) == pytest.approx(score)


def test_total_is_the_weighted_sum() -> None:
    parts = c.components(
        direction=1,
        deviation_pct=1.0,
        bars_since_cross=10,
        ma_slope_pct=0.25,
        volume_ratio=1.5,
        rsi=60.0,
    )
    expected = 0.35 * 0.5 + 0.20 * 1.0 + 0.20 * 0.5 + 0.10 * 1.0 + 0.15 * 1.0
    assert parts.total == pytest.approx(expected)
    assert 0.0 <= parts.total <= 1.0
