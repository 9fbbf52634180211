"""Operations the task tests run (also loaded by the worker subprocess)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from perpwatch.errors import InvalidInput
from perpwatch.tasks.operations import OperationRegistry


@dataclass
class Probe:
    """The ``ctx`` the tests hand a manager: operations record what they see in it."""

    running: int = 0
    max_running: int = 0
    started: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


def _seconds(params: dict[str, Any]) -> dict[str, Any]:
    s = params.get("seconds")
    if not isinstance(s, int | float) or isinstance(s, bool) or not 0 <= s <= 60:
        raise InvalidInput("seconds must be a number in [0, 60]")
    return params


async def sleep(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    tag = str(params.get("tag", ""))
    probe = ctx if isinstance(ctx, Probe) else None
    if probe is not None:
        probe.started.append(tag)
        probe.running += 1
        probe.max_running = max(probe.max_running, probe.running)
    try:
        await asyncio.sleep(params["seconds"])
    except asyncio.CancelledError:
        if probe is not None:
            probe.cancelled.append(tag)
        raise
    finally:
        if probe is not None:
            probe.running -= 1
    return {"slept": params["seconds"]}


async def echo(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    return {"echo": params}


async def boom(ctx: Any, params: dict[str, Any]) -> Any:
    raise ValueError("boom secret detail")


async def refuse(ctx: Any, params: dict[str, Any]) -> Any:
    raise InvalidInput("symbol FOO is not watched")


async def not_json(ctx: Any, params: dict[str, Any]) -> Any:
    return {"when": object()}


def build_registry() -> OperationRegistry:
    reg = OperationRegistry()
    reg.register("sleep", sleep, validate=_seconds)
    reg.register("echo", echo)
    reg.register("boom", boom)
    reg.register("refuse", refuse)
    reg.register("not_json", not_json)
    reg.register("quick_timeout", sleep, timeout_s=0.3, validate=_seconds)
    return reg
