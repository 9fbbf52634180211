"""All-symbols answers cached for the current second.

Answers listing every contract (exchangeInfo, all tickers, all funding rates) are the
emulator's most expensive, and in benchmarks its CPU competes with perpwatch's. Within
one second the same query gets the same bytes, at most a second old, as a real exchange's
edge cache would serve them. Per-symbol answers (klines) are never cached.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

PER_SYMBOL_PARAMS = ("symbol", "instId")


def render_json(content: Any) -> bytes:
    """JSON bytes exactly as Starlette's JSONResponse renders them."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class SecondCache:
    def __init__(self) -> None:
        self._second = -1
        self._bodies: dict[tuple[str, str], bytes] = {}
        self.hits = 0

    @staticmethod
    def cacheable(params: Mapping[str, str]) -> bool:
        """No per-symbol parameter (OKX's ``instId=ANY`` means every instrument)."""
        return not any(params.get(p) not in (None, "", "ANY") for p in PER_SYMBOL_PARAMS)

    def get_or_render(
        self, path: str, query: str, now_s: float, render: Callable[[], bytes]
    ) -> bytes:
        second = int(now_s)
        if second != self._second:
            self._second, self._bodies = second, {}
        key = (path, query)
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = render()
        else:
            self.hits += 1
        return body
