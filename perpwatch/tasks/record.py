"""What the in-process manager keeps: one mutable record per task, in a bounded store.

A finished task's result is kept as its compact JSON text and decoded only when read:
decoded Python objects take about three times the memory of the text, and the store's
byte cap counts exactly that text.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from perpwatch.tasks.errors import TaskQueueFull
from perpwatch.tasks.models import TaskBackend, TaskInfo, TaskStatus


@dataclass(slots=True)
class TaskRecord:
    id: str
    operation: str
    params: dict[str, Any]
    submitted_at: float
    timeout_s: float
    dedup_key: str | None
    backend: TaskBackend
    status: TaskStatus = "queued"
    started_at: float | None = None
    finished_at: float | None = None
    result_json: str | None = None  # compact JSON text of the result, decoded on read
    error_type: str | None = None
    error: str | None = None
    cancel_requested: bool = False
    result_bytes: int = 0

    def info(self, *, with_result: bool = True) -> TaskInfo:
        """A snapshot; the result is decoded (a fresh copy each time) only ``with_result``."""
        duration = None
        if self.started_at is not None and self.finished_at is not None:
            duration = max(0.0, self.finished_at - self.started_at)
        return TaskInfo(
            id=self.id,
            operation=self.operation,
            params=self.params,
            status=self.status,
            submitted_at=self.submitted_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            duration_s=duration,
            result=(
                json.loads(self.result_json)
                if with_result and self.result_json is not None
                else None
            ),
            error_type=self.error_type,
            error=self.error,
            dedup_key=self.dedup_key,
            backend=self.backend,
            timeout_s=self.timeout_s,
        )


class TaskStore:
    """The records of one in-process manager, bounded in time, number and result size.

    Keeps submission order (for ``list``), finish order (expiry and eviction go oldest
    finished first) and the dedup key -> id index of unfinished tasks. Expired records
    are dropped whenever the store is read or added to. When the results kept add up to
    more than ``max_result_bytes`` (their JSON text, as kept), the oldest finished records
    go first.
    """

    def __init__(
        self,
        *,
        ttl_s: float,
        max_records: int,
        clock: Callable[[], float],
        max_result_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._ttl_s = ttl_s
        self._max_records = max_records
        self._max_result_bytes = max_result_bytes
        self.result_bytes = 0
        self._clock = clock
        self._records: dict[str, TaskRecord] = {}  # submission order
        self._finished: OrderedDict[str, None] = OrderedDict()  # finish order
        self._active_dedup: dict[str, str] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._records

    def get(self, task_id: str) -> TaskRecord | None:
        self.purge()
        return self._records.get(task_id)

    def active_for(self, dedup_key: str) -> TaskRecord | None:
        task_id = self._active_dedup.get(dedup_key)
        return self._records.get(task_id) if task_id is not None else None

    def newest_first(self) -> Iterator[TaskRecord]:
        self.purge()
        return reversed(self._records.values())

    def unfinished(self) -> list[TaskRecord]:
        return [r for r in self._records.values() if r.finished_at is None]

    def add(self, rec: TaskRecord) -> None:
        """Store ``rec``; :class:`TaskQueueFull` if only unfinished records could make room."""
        self.purge()
        while len(self._records) >= self._max_records and self._finished:
            task_id, _ = self._finished.popitem(last=False)
            if self._drop(task_id):
                self.evicted += 1
        if len(self._records) >= self._max_records:
            raise TaskQueueFull(f"too many unfinished tasks ({len(self._records)}); try later")
        self._records[rec.id] = rec
        if rec.dedup_key is not None:
            self._active_dedup[rec.dedup_key] = rec.id

    def finish(self, rec: TaskRecord, status: TaskStatus, **fields: Any) -> bool:
        """Record the outcome (once); ``fields``: result_json (compact JSON text),
        error_type, error."""
        if rec.finished_at is not None:
            return False
        rec.status = status
        rec.finished_at = self._clock()
        rec.result_json = fields.get("result_json")
        rec.error_type = fields.get("error_type")
        rec.error = fields.get("error")
        if rec.result_json is not None:
            rec.result_bytes = len(rec.result_json)
            self.result_bytes += rec.result_bytes
        if rec.dedup_key is not None and self._active_dedup.get(rec.dedup_key) == rec.id:
            del self._active_dedup[rec.dedup_key]
        self._finished[rec.id] = None
        while self.result_bytes > self._max_result_bytes and len(self._finished) > 1:
            oldest, _ = self._finished.popitem(last=False)
            if self._drop(oldest):
                self.evicted += 1
        return True

    def _drop(self, task_id: str) -> bool:
        rec = self._records.pop(task_id, None)
        if rec is None:
            return False
        self.result_bytes -= rec.result_bytes
        return True

    def purge(self) -> None:
        """Drop finished records whose TTL is over."""
        now = self._clock()
        while self._finished:
            task_id = next(iter(self._finished))
            rec = self._records.get(task_id)
            if rec is not None and rec.finished_at is not None:
                if rec.finished_at + self._ttl_s > now:
                    break
                self._drop(task_id)
            del self._finished[task_id]
