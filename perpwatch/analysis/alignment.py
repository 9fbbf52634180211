"""How far a symbol's timeframes agree: the alignment of the ``matrix`` endpoint.

    alignment = Σ direction(tf) · confidence(tf) / Σ confidence(tf)

over the timeframes that have an analysis, with direction BUY = +1, SELL = −1 and
HOLD = 0. It lies in [−1, 1]: +1 when every timeframe says BUY, −1 when every one says
SELL (whatever their confidences, as long as one is above 0), 0 when they cancel out or
all say HOLD. A HOLD adds its confidence below the line but nothing above it, so a
confident HOLD pulls the alignment towards 0. With no timeframe, or every confidence 0,
there is no agreement to measure: ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable

from perpwatch.analysis.models import Recommendation

DIRECTION: dict[Recommendation, int] = {"BUY": 1, "SELL": -1, "HOLD": 0}


def alignment(signals: Iterable[tuple[Recommendation, float]]) -> float | None:
    """The confidence-weighted agreement of ``(recommendation, confidence)`` pairs."""
    weighted = 0.0
    total = 0.0
    for recommendation, confidence in signals:
        c = min(max(float(confidence), 0.0), 1.0)
        weighted += DIRECTION[recommendation] * c
        total += c
    if total <= 0.0:
        return None
    return round(max(-1.0, min(1.0, weighted / total)), 4)
