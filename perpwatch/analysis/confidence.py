"""The confidence of a HAMA signal: a documented, pure formula.

For a direction ``d`` (+1 for the BUY side, -1 for the SELL side)::

    confidence = 0.35 * deviation + 0.20 * cross_age + 0.20 * ma_slope
               + 0.10 * volume    + 0.15 * rsi

each component in [0, 1]:

- ``deviation``: min(deviation_pct / 2, 1) -- 2 % between the HAMA close and the MA is full.
- ``cross_age``: 0 with no cross in the data; ramps up over the first 3 bars after the
  cross (a fresh cross is not yet confirmed), 1 up to 48 bars, then fades linearly to a
  floor of 0.25 at 192 bars (an old trend is more likely to be exhausted).
- ``ma_slope``: the MA's change over the last 5 bars in direction ``d``, 0.5 % or more
  is full, a slope against ``d`` is 0.
- ``volume``: last closed candle's volume over the mean of the 20 before it, divided by
  1.5 and capped at 1 (0 when the average is unknown or zero).
- ``rsi``: for d=+1, 0 at RSI 40 rising to 1 at 55, 1 up to 70, then easing to 0.5 at 85
  and above (overbought); mirrored around 50 for d=-1.

BUY and SELL report the confidence of their own direction. HOLD reports
``1 - confidence`` of the side the HAMA close is on: a HOLD right next to a strong
setup is a weak HOLD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WEIGHTS = {"deviation": 0.35, "cross_age": 0.20, "ma_slope": 0.20, "volume": 0.10, "rsi": 0.15}


@dataclass(frozen=True, slots=True)
class Components:
    deviation: float
    cross_age: float
    ma_slope: float
    volume: float
    rsi: float

    @property
    def total(self) -> float:
        t = (
            WEIGHTS["deviation"] * self.deviation
            + WEIGHTS["cross_age"] * self.cross_age
            + WEIGHTS["ma_slope"] * self.ma_slope
            + WEIGHTS["volume"] * self.volume
            + WEIGHTS["rsi"] * self.rsi
        )
        return round(min(1.0, max(0.0, t)), 4)


def _clip01(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return min(1.0, max(0.0, x))


def deviation_score(deviation_pct: float) -> float:
    return _clip01(deviation_pct / 2.0)


def cross_age_score(bars_since_cross: int | None) -> float:
    if bars_since_cross is None:
        return 0.0
    ramp = min(1.0, (bars_since_cross + 1) / 4.0)
    if bars_since_cross <= 48:
        return ramp
    return max(0.25, 1.0 - 0.75 * (bars_since_cross - 48) / 144.0)


def ma_slope_score(direction: int, ma_slope_pct: float) -> float:
    return _clip01(direction * ma_slope_pct / 0.5)


def volume_score(volume_ratio: float | None) -> float:
    if volume_ratio is None:
        return 0.0
    return _clip01(volume_ratio / 1.5)


def rsi_score(direction: int, rsi: float) -> float:
    if math.isnan(rsi):
        return 0.0
    r = rsi if direction > 0 else 100.0 - rsi
    if r <= 70.0:
        return _clip01((r - 40.0) / 15.0)
    return max(0.5, 1.0 - 0.5 * (r - 70.0) / 15.0)


def components(
    *,
    direction: int,
    deviation_pct: float,
    bars_since_cross: int | None,
    ma_slope_pct: float,
    volume_ratio: float | None,
    rsi: float,
) -> Components:
    return Components(
        deviation=round(deviation_score(deviation_pct), 4),
        cross_age=round(cross_age_score(bars_since_cross), 4),
        ma_slope=round(ma_slope_score(direction, ma_slope_pct), 4),
        volume=round(volume_score(volume_ratio), 4),
        rsi=round(rsi_score(direction, rsi), 4),
    )
