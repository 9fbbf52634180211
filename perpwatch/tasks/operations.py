"""The operations a task may run, by name.

An operation is ``async def op(ctx, params) -> JSON-able``. ``ctx`` is whatever the app
handed the task manager (its runtime); the task code never looks inside it. An optional
``validate(params) -> params`` hook runs at submit time, so bad params are rejected with
:class:`~perpwatch.errors.InvalidInput` (HTTP 400) before anything is queued; it may also
normalise the params (the normalised params are what is stored, deduplicated and run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from perpwatch.errors import InvalidInput

Operation = Callable[[Any, dict[str, Any]], Awaitable[Any]]
Validator = Callable[[dict[str, Any]], dict[str, Any]]

OPERATION_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,63}$")
MAX_TIMEOUT_S = 7 * 86400.0


def check_timeout(timeout_s: float) -> float:
    """A per-task timeout in seconds: finite, positive, at most a week."""
    t = float(timeout_s)
    if not math.isfinite(t) or t <= 0 or t > MAX_TIMEOUT_S:
        raise InvalidInput(f"timeout_s must be in (0, {MAX_TIMEOUT_S:g}] seconds")
    return t


@dataclass(frozen=True, slots=True)
class OperationSpec:
    name: str
    fn: Operation
    timeout_s: float | None = None
    validate: Validator | None = None
    dedup: bool = True


class OperationRegistry:
    """Name -> :class:`OperationSpec`. Register everything before the manager starts."""

    def __init__(self) -> None:
        self._ops: dict[str, OperationSpec] = {}

    def register(
        self,
        name: str,
        fn: Operation,
        *,
        timeout_s: float | None = None,
        validate: Validator | None = None,
        dedup: bool = True,
    ) -> OperationSpec:
        """Add ``fn`` under ``name`` (``[A-Za-z][A-Za-z0-9_.:-]{0,63}``).

        ``timeout_s`` overrides the manager's default timeout for this operation;
        ``dedup=False`` lets identical submissions run side by side.
        """
        if not OPERATION_NAME_RE.match(name):
            raise ValueError(f"invalid operation name: {name!r}")
        if name in self._ops:
            raise ValueError(f"operation already registered: {name}")
        if timeout_s is not None:
            try:
                timeout_s = check_timeout(timeout_s)
            except InvalidInput as e:
                raise ValueError(str(e)) from None
        spec = OperationSpec(name=name, fn=fn, timeout_s=timeout_s, validate=validate, dedup=dedup)
        self._ops[name] = spec
        return spec

    def get(self, name: str) -> OperationSpec:
        """The spec of ``name``; :class:`InvalidInput` if there is no such operation."""
        spec = self._ops.get(name) if isinstance(name, str) else None
        if spec is None:
            shown = name[:64] if isinstance(name, str) else type(name).__name__
            raise InvalidInput(f"unknown operation: {shown!r}")
        return spec

    def names(self) -> list[str]:
        return sorted(self._ops)

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __len__(self) -> int:
        return len(self._ops)
