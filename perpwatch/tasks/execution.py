"""What both backends share: checking a submission and running one operation.

Running is where failures are turned into what a client may see: a perpwatch error keeps
its message (those are written for clients), anything else becomes "internal error (see
log, task <id>)" and its traceback goes to the log with the task id. Results and params
go through a JSON round trip, so an operation sees and returns exactly the same shapes
in-process and on SAQ. The in-process manager keeps a result as compact JSON text
(``as_json_text=True``): decoded objects take about three times the memory of the text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from perpwatch.errors import InvalidInput, PerpwatchError
from perpwatch.metrics import record
from perpwatch.tasks.errors import OperationFailed, TasksClosed
from perpwatch.tasks.operations import OperationRegistry, OperationSpec, check_timeout

logger = logging.getLogger(__name__)

MAX_PARAMS_CHARS = 64 * 1024


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN: equal values give equal strings."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def dedup_key(operation: str, params: dict[str, Any]) -> str:
    """``<operation>:<sha256 of canonical params JSON>`` (short, fixed length)."""
    digest = hashlib.sha256(canonical_json(params).encode()).hexdigest()
    return f"{operation}:{digest}"


def jsonable(value: Any) -> Any:
    """``value`` after a JSON round trip (tuples become lists, keys strings)."""
    return json.loads(canonical_json(value))


@dataclass(frozen=True, slots=True)
class Submission:
    spec: OperationSpec
    params: dict[str, Any]
    timeout_s: float
    dedup_key: str | None


def prepare(
    registry: OperationRegistry,
    operation: str,
    params: dict[str, Any],
    *,
    timeout_s: float | None,
    default_timeout_s: float,
    accepting: bool = True,
) -> Submission:
    """Everything checked at submit time; raises :class:`InvalidInput`, or
    :class:`TasksClosed` when the manager is not ``accepting`` (shutting down)."""
    if not accepting:
        raise TasksClosed("task manager is not accepting tasks (shutting down)")
    spec = registry.get(operation)
    if not isinstance(params, dict):
        raise InvalidInput("params must be a JSON object")
    if spec.validate is not None:
        params = spec.validate(dict(params))
        if not isinstance(params, dict):
            raise TypeError(f"validate hook of {operation} must return a dict")
    try:
        text = canonical_json(params)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"params must be JSON-serializable: {e}") from None
    if len(text) > MAX_PARAMS_CHARS:
        raise InvalidInput(f"params too large (over {MAX_PARAMS_CHARS} characters of JSON)")
    params = json.loads(text)
    if timeout_s is not None:
        timeout = check_timeout(timeout_s)
    elif spec.timeout_s is not None:
        timeout = spec.timeout_s
    else:
        timeout = default_timeout_s
    key = dedup_key(spec.name, params) if spec.dedup else None
    return Submission(spec=spec, params=params, timeout_s=timeout, dedup_key=key)


def describe_failure(e: BaseException, task_id: str) -> tuple[str, str]:
    """``(error_type, error)`` safe for a client: no traceback, no internals."""
    if isinstance(e, PerpwatchError):
        return type(e).__name__, str(e) or type(e).__name__
    return type(e).__name__, f"internal error (see log, task {task_id})"


async def run_operation(
    spec: OperationSpec,
    ctx: Any,
    params: dict[str, Any],
    *,
    task_id: str,
    timeout_s: float,
    as_json_text: bool = False,
) -> Any:
    """Run one operation; return its JSON-able result or raise :class:`OperationFailed`.

    With ``as_json_text`` the result comes back as its compact JSON text
    (:func:`canonical_json`) instead of the decoded round trip.

    ``asyncio.CancelledError`` passes through untouched (cancel/shutdown). Either way
    the ending is counted (``perpwatch_tasks_total``), in the process that ran it.
    """
    try:
        result = await _run(spec, ctx, params, task_id=task_id, timeout_s=timeout_s,
                            as_json_text=as_json_text)  # fmt: skip
    except OperationFailed:
        record.task_finished(spec.name, "failed")
        raise
    except asyncio.CancelledError:
        record.task_finished(spec.name, "cancelled")
        raise
    record.task_finished(spec.name, "completed")
    return result


async def _run(
    spec: OperationSpec,
    ctx: Any,
    params: dict[str, Any],
    *,
    task_id: str,
    timeout_s: float,
    as_json_text: bool,
) -> Any:
    timer = asyncio.timeout(timeout_s)
    try:
        async with timer:
            result = await spec.fn(ctx, params)
    except TimeoutError as e:
        if timer.expired():
            logger.error("task %s (%s) timed out after %s s", task_id, spec.name, timeout_s)
            raise OperationFailed("TimeoutError", f"timed out after {timeout_s:g} s") from None
        logger.exception("task %s (%s) failed", task_id, spec.name)
        raise OperationFailed(*describe_failure(e, task_id)) from None
    except Exception as e:
        logger.exception("task %s (%s) failed", task_id, spec.name)
        raise OperationFailed(*describe_failure(e, task_id)) from None
    try:
        # a large result takes milliseconds to encode/round-trip: not on the event loop
        if as_json_text:
            return await asyncio.to_thread(canonical_json, result)
        return await asyncio.to_thread(jsonable, result)
    except (TypeError, ValueError):
        logger.exception("task %s (%s) returned a result that is not JSON", task_id, spec.name)
        raise OperationFailed("TypeError", "result is not JSON-serializable") from None
