"""The symbol × timeframe matrix: each timeframe's recommendation and confidence per
symbol, and their alignment (:mod:`perpwatch.analysis.alignment`). Pure: built from the
cached analyses' texts, which the caller reads."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from perpwatch.analysis.alignment import alignment
from perpwatch.analysis.models import Recommendation


class MatrixCell(BaseModel):
    recommendation: Recommendation
    confidence: float
    candle_close_time: str = Field(description="close time of the analysis's last candle")
    timestamp: str = Field(description="when the analysis was computed (UTC)")
    age_seconds: float
    stale: bool = Field(description="older than that timeframe's refreshes should let it be")


class MatrixRow(BaseModel):
    symbol: str
    alignment: float | None = Field(
        description="Σ direction·confidence / Σ confidence over the timeframes with an "
        "analysis (BUY +1, SELL −1, HOLD 0), in [−1, 1]; null when none has one"
    )
    timeframes: dict[str, MatrixCell | None] = Field(
        description="per configured timeframe, its cached analysis (null: none cached)"
    )


class MatrixData(BaseModel):
    timeframes: list[str] = Field(description="the configured timeframes, the primary first")
    min_alignment: float | None
    count: int
    rows: list[MatrixRow]


def cell(text: str, *, now_s: float, stale_after_s: float) -> MatrixCell:
    doc = json.loads(text)
    h = doc["hama_analysis"]
    age = round(max(0.0, now_s - doc["timestamp_ms"] / 1000), 3)
    return MatrixCell(
        recommendation=h["recommendation"],
        confidence=h["confidence"],
        candle_close_time=doc["candle_close_time"],
        timestamp=doc["timestamp"],
        age_seconds=age,
        stale=age > stale_after_s,
    )


def matrix(
    symbols: Sequence[str],
    texts: Mapping[str, Sequence[str | None]],
    *,
    stale_after_s: Mapping[str, float],
    now_s: float,
    min_alignment: float | None,
) -> MatrixData:
    """``texts[tf][i]``: the cached analysis of ``symbols[i]`` on ``tf`` (None: none).
    With ``min_alignment``, only rows whose |alignment| reaches it (strong agreement
    either way); rows by |alignment|, strongest first, unaligned last."""
    rows: list[MatrixRow] = []
    for i, symbol in enumerate(symbols):
        cells = {
            tf: None if column[i] is None else cell(column[i] or "", now_s=now_s,
                                                    stale_after_s=stale_after_s[tf])
            for tf, column in texts.items()
        }  # fmt: skip
        score = alignment((c.recommendation, c.confidence) for c in cells.values() if c)
        if min_alignment is not None and (score is None or abs(score) < min_alignment):
            continue
        rows.append(MatrixRow(symbol=symbol, alignment=score, timeframes=cells))
    rows.sort(key=lambda r: (r.alignment is None, -abs(r.alignment or 0.0), r.symbol))
    return MatrixData(
        timeframes=list(texts), min_alignment=min_alignment, count=len(rows), rows=rows
    )
