"""The operations perpwatch runs as async tasks, by name.

``ctx`` is the process's :class:`~perpwatch.runtime.Runtime` -- the API's, or a
``perpwatch worker``'s own when tasks run on other machines. The operations see it as a
:class:`JobContext`, so this module does not import the runtime that imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from perpwatch.errors import InvalidInput
from perpwatch.symbols import normalize_symbol
from perpwatch.tasks.operations import OperationRegistry

if TYPE_CHECKING:
    from perpwatch.analysis.funding_monitor import FundingMonitor
    from perpwatch.scheduler.hama_scheduler import HamaScheduler

FUNDING_REFRESH = "funding.refresh"
HAMA_REFRESH = "hama.refresh"
MAX_REFRESH_SYMBOLS = 5000


class JobContext(Protocol):
    """What the operations use of their ``ctx`` (a :class:`~perpwatch.runtime.Runtime`)."""

    @property
    def funding(self) -> FundingMonitor: ...
    @property
    def scheduler(self) -> HamaScheduler: ...


def _strict_bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false")
    return value


def validate_funding(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - {"fast_mode", "cache_only"}
    if unknown:
        raise InvalidInput(f"unknown parameters: {', '.join(sorted(unknown))}")
    return {
        "fast_mode": _strict_bool(params, "fast_mode"),
        "cache_only": _strict_bool(params, "cache_only"),
    }


async def funding_refresh(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    return await ctx.funding.refresh(
        fast_mode=bool(params["fast_mode"]), cache_only=bool(params["cache_only"])
    )


def validate_hama(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - {"symbols"}
    if unknown:
        raise InvalidInput(f"unknown parameters: {', '.join(sorted(unknown))}")
    symbols = params.get("symbols")
    if symbols is None:
        return {}
    if not isinstance(symbols, list) or not symbols or len(symbols) > MAX_REFRESH_SYMBOLS:
        raise InvalidInput(f"symbols must be a list of 1 to {MAX_REFRESH_SYMBOLS} symbols")
    return {"symbols": list(dict.fromkeys(normalize_symbol(s) for s in symbols))}


async def hama_refresh(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    symbols = params.get("symbols")
    summary = await ctx.scheduler.run_once(list(symbols) if symbols else None)
    return summary.as_dict()


def build_registry() -> OperationRegistry:
    registry = OperationRegistry()
    registry.register(FUNDING_REFRESH, funding_refresh, validate=validate_funding)
    registry.register(HAMA_REFRESH, hama_refresh, validate=validate_hama)
    return registry
