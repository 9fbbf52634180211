"""Redis key names, in one place. Existing users read these with ``redis-cli``."""

from __future__ import annotations

HAMA_ANALYSIS_PREFIX = "hama:analysis:"
FUNDING_PREFIX = "funding:"
TASK_PREFIX = "perpwatch:task:"


def hama_analysis_key(symbol: str) -> str:
    """``hama:analysis:BTCUSDT`` -- ``symbol`` must already be canonical."""
    return f"{HAMA_ANALYSIS_PREFIX}{symbol}"


def funding_rates_key(exchange: str) -> str:
    """``funding:rates:binanceusdm`` -- one exchange's whole funding table."""
    return f"{FUNDING_PREFIX}rates:{exchange}"
