"""Did the signal change between two analyses of a symbol? A pure function."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from perpwatch.analysis.models import SignalChange


def signal_change(previous_text: str | None, new: dict[str, Any]) -> SignalChange | None:
    """The change from the cached analysis ``previous_text`` (JSON) to ``new`` (a document
    as :meth:`AnalysisDocument.model_dump` gives it): a new recommendation, or a flipped
    HAMA cross direction. None when neither changed, or when there is nothing to compare
    with (no previous analysis, another timeframe, or unreadable)."""
    if previous_text is None:
        return None
    try:
        old: Any = json.loads(previous_text)
        old_rec = old["hama_analysis"]["recommendation"]
        old_cross = old["hama_analysis"]["signals"]["last_cross_direction"]
        if old.get("timeframe") != new["timeframe"]:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    analysis = new["hama_analysis"]
    rec = analysis["recommendation"]
    cross = analysis["signals"]["last_cross_direction"]
    changed: list[Any] = []
    if rec != old_rec:
        changed.append("recommendation")
    if cross != old_cross:
        changed.append("cross")
    if not changed:
        return None
    try:
        return SignalChange.model_validate(
            {
                "symbol": new["symbol"],
                "timeframe": new["timeframe"],
                "from": old_rec,
                "to": rec,
                "cross_from": old_cross,
                "cross_to": cross,
                "changed": changed,
                "confidence": analysis["confidence"],
                "candle_close_time": new["candle_close_time"],
                "computed_at": new["timestamp"],
            }
        )
    except ValidationError:  # an old value that cannot be (a corrupt cache entry): no change
        return None
