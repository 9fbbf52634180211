"""Which symbols the schedule watches: an explicit list, or the top N by 24h quote volume."""

from __future__ import annotations

import logging

from perpwatch.errors import UnknownSymbol
from perpwatch.market.base import MarketData

logger = logging.getLogger(__name__)


async def resolve_watchlist(market: MarketData, *, explicit: list[str], limit: int) -> list[str]:
    """Explicit symbols must all be listed perpetuals (else :class:`UnknownSymbol`);
    without them, the ``limit`` most traded listed perpetuals."""
    contracts = await market.list_perpetuals()
    if explicit:
        listed = {c.symbol for c in contracts}
        unknown = [s for s in explicit if s not in listed]
        if unknown:
            raise UnknownSymbol(", ".join(unknown[:10]))
        return list(explicit)
    chosen = [c.symbol for c in contracts[:limit]]
    logger.info(
        "watching the top %d of %d %s USDT perpetuals by 24h quote volume",
        len(chosen),
        len(contracts),
        market.name,
    )
    return chosen
