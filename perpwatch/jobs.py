"""The operations perpwatch runs as async tasks, by name.

``ctx`` is the process's :class:`~perpwatch.runtime.Runtime` -- the API's, or a
``perpwatch worker``'s own when tasks run on other machines. The operations see it as a
:class:`JobContext`, so this module does not import the runtime that imports it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from perpwatch.errors import DataNotAvailable, InsufficientData, InvalidInput, UnknownSymbol
from perpwatch.symbols import normalize_symbol
from perpwatch.tasks.awaiting import await_task
from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.models import TaskInfo
from perpwatch.tasks.operations import OperationRegistry

if TYPE_CHECKING:
    from perpwatch.analysis.funding_monitor import FundingMonitor
    from perpwatch.analysis.service import AnalysisService
    from perpwatch.scheduler.hama_scheduler import HamaScheduler

FUNDING_REFRESH = "funding.refresh"
HAMA_REFRESH = "hama.refresh"
HAMA_ANALYZE = "hama.analyze"
MAX_REFRESH_SYMBOLS = 5000


class JobContext(Protocol):
    """What the operations use of their ``ctx`` (a :class:`~perpwatch.runtime.Runtime`)."""

    @property
    def funding(self) -> FundingMonitor: ...
    @property
    def scheduler(self) -> HamaScheduler: ...
    @property
    def service(self) -> AnalysisService: ...
    def service_for(self, timeframe: str | None) -> AnalysisService: ...


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


def validate_analyze(params: dict[str, Any]) -> dict[str, Any]:
    unknown = set(params) - {"symbol", "timeframe"}
    timeframe = params.get("timeframe")
    if (
        unknown
        or not isinstance(params.get("symbol"), str)
        or not (timeframe is None or isinstance(timeframe, str))
    ):
        raise InvalidInput("hama.analyze takes a symbol and optionally a timeframe")
    out: dict[str, Any] = {"symbol": normalize_symbol(params["symbol"])}
    if timeframe is not None:
        out["timeframe"] = timeframe[:10]
    return out


async def hama_analyze(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """One symbol's analysis (of ``timeframe``, default the primary), computed in the
    process running the task (a worker) and written to the cache; an API replica submits
    it on a miss and waits for it."""
    service = ctx.service_for(params.get("timeframe"))
    return await service.refresh_here(str(params["symbol"]))


def build_registry() -> OperationRegistry:
    registry = OperationRegistry()
    registry.register(HAMA_ANALYZE, hama_analyze, validate=validate_analyze)
    registry.register(FUNDING_REFRESH, funding_refresh, validate=validate_funding)
    registry.register(HAMA_REFRESH, hama_refresh, validate=validate_hama)
    return registry


def error_of(info: TaskInfo, symbol: str) -> Exception:
    """The perpwatch error a failed ``hama.analyze`` stands for (so the API answers the
    same status as when it computed itself: 404, 400 or 503)."""
    message = info.error or f"analysis task {info.status}"
    if info.error_type == "UnknownSymbol":
        return UnknownSymbol(symbol)
    if info.error_type == "InvalidInput":
        return InvalidInput(message)
    if info.error_type == "InsufficientData":
        return InsufficientData(message)
    return DataNotAvailable(message)


def remote_analysis(
    tasks: TaskManager, *, timeout_s: float, timeframe: str | None = None
) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """``analyze(symbol)`` by the workers: submit ``hama.analyze`` (identical concurrent
    requests share one task) and wait for its result. ``timeframe``: a further one."""
    extra = {} if timeframe is None else {"timeframe": timeframe}

    async def analyze(symbol: str) -> dict[str, Any]:
        submitted = await tasks.submit(HAMA_ANALYZE, {"symbol": symbol, **extra})
        info = await await_task(tasks, submitted.task.id, timeout_s=timeout_s)
        if info.status == "completed" and isinstance(info.result, dict):
            return info.result
        raise error_of(info, symbol)

    return analyze
