"""Funding tables and arbitrage views cut to a client's symbols (snapshots and live events
alike): pure functions on JSON text, run in a thread by their callers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from perpwatch.push.events import Channel


def cut_table(text: str, symbols: frozenset[str]) -> str:
    doc: Any = json.loads(text)
    doc["rows"] = {s: row for s, row in doc.get("rows", {}).items() if s in symbols}
    return json.dumps(doc, separators=(",", ":"))


def cut_arbitrage(text: str, symbols: frozenset[str]) -> str:
    doc: Any = json.loads(text)
    doc["opportunities"] = [o for o in doc.get("opportunities", []) if o["symbol"] in symbols]
    doc["count"] = len(doc["opportunities"])
    return json.dumps(doc, separators=(",", ":"))


def cut_for(channel: Channel) -> Callable[[str, frozenset[str]], str] | None:
    """How to cut ``channel``'s data to some symbols (None: its events are per symbol)."""
    return {"funding": cut_table, "arbitrage": cut_arbitrage}.get(channel)
